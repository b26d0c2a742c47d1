"""Cluster events, filtered by object, type and time (``GET /api/v1/events``)."""
