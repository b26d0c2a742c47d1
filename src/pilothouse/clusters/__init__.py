"""Cluster registry: tunnel clusters and their executors (later also Direct clusters)."""
