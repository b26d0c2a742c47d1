"""The cluster as one graph: nodes, namespaces, workloads, pods, services (``GET /api/v1/topology``)."""
