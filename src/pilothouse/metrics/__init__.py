"""Node and pod resource usage from metrics.k8s.io (``GET /api/v1/metrics/nodes``, ``/pods``)."""
