"""Namespaces of a cluster with pod counts and quota usage (``GET /api/v1/namespaces``)."""
