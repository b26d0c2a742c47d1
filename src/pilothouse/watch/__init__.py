"""Live watch for WebSocket clients: one upstream watch per (cluster, kind, namespace, selector),
fanned out to every subscriber through a bounded queue of its own."""
