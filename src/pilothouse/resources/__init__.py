"""Cluster API resources: list, get, create, update and delete any kind the cluster serves."""
