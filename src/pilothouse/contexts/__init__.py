"""Cluster API contexts: which cluster a request is about, and the clusters one may choose from."""
