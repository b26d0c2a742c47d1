"""Pilothouse: safe, audited access to Kubernetes clusters for AI agents and their supervisors."""

__version__ = "0.1.0"
