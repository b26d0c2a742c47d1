"""Cluster access: the ``ClusterOps`` port and its Direct adapter (kubernetes_asyncio + kubeconfig).

Everything Pilothouse does to a cluster's API goes through :class:`~pilothouse.kube.ops.ClusterOps`;
the Tunnel adapter (``pilothouse.tunnel``) forwards the same operations to an executor, which
performs them with the Direct adapter inside the cluster.
"""
