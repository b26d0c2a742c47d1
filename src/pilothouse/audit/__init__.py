"""Audit trail: who did what to which cluster, with which outcome (``GET /debug/audit``)."""
