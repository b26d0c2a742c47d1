"""Rate limits per API key and per cluster (Kubently), tiered per principal for the Cluster API
(Kubilitics), concurrency limits, and the X-RateLimit-* headers."""
