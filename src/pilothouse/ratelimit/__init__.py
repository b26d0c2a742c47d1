"""Rate limits per API key and per cluster (Kubently), with the X-RateLimit-* headers."""
