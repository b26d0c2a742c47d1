"""The Tunnel transport: cluster operations carried over one WebSocket per executor.

``mux`` multiplexes streams with per-stream flow control (both ends use it), ``operations`` is the
executor's side (performs an operation with its local Direct adapter), ``ops`` the server's
``ClusterOps`` adapter, ``hub`` the registry of connected executors and ``router`` the endpoint
executors dial (``/agent/stream``).
"""
