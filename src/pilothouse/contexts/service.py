"""Cluster targets: a registered cluster together with the ``ClusterOps`` that reaches it.

A Direct cluster gets one ``DirectClusterOps`` per process, built from its kubeconfig on first
use and kept (its HTTP pool is reused by every request). A tunnel cluster's operations go to
whichever of its executors is connected to this process's tunnel hub.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio.config import list_kube_config_contexts

from pilothouse.clusters.service import TRANSPORT_DIRECT, ClusterRegistry, ClusterView
from pilothouse.errors import BadRequest, Forbidden, NotFound
from pilothouse.kube.cached import InformerListOps
from pilothouse.kube.direct import DirectClusterOps
from pilothouse.kube.errors import InvalidContext
from pilothouse.kube.ops import ClusterOps, ClusterUnavailable
from pilothouse.kube.resolver import ResourceResolver
from pilothouse.policy import SecurityMode
from pilothouse.policy.objects import Access, ModeForbids, check_access
from pilothouse.tunnel.hub import TunnelHub
from pilothouse.tunnel.ops import TunnelClusterOps

REACHABILITY_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class ClusterTarget:
    view: ClusterView
    # Straight to the API server (or executor): reads see every write before them.
    ops: ClusterOps
    resolver: ResourceResolver
    # Whole-collection lists from informers: for views of the whole cluster (topology, metrics,
    # scans), which read everything often. Objects from it are shared: never modify them.
    snapshot_ops: ClusterOps

    @property
    def id(self) -> str:
        return self.view.id

    @property
    def security_mode(self) -> SecurityMode:
        return self.view.security_mode

    def require(self, access: Access, what: str) -> None:
        """403 unless the cluster's security mode allows ``what`` (the policy of policy.objects)."""
        try:
            check_access(self.security_mode, access, what)
        except ModeForbids as error:
            raise Forbidden(
                str(error), details={"cluster_id": self.id, "security_mode": self.security_mode.value}
            ) from error


class ClusterTargets:
    def __init__(self, registry: ClusterRegistry, hub: TunnelHub, *, default_cluster: str | None) -> None:
        self._registry = registry
        self._hub = hub
        self._default = default_cluster
        # cluster id -> (the view's connection fields, ops, resolver, informer-backed ops)
        self._cache: dict[str, tuple[tuple[Any, ...], ClusterOps, ResourceResolver, InformerListOps]] = {}
        self._lock = asyncio.Lock()

    async def select(self, requested: str | None) -> ClusterTarget:
        """The cluster a request names (id or display name), else the default one."""
        if requested:
            return await self.get(requested)
        if self._default:
            return await self.get(self._default)
        async with self._registry.database.session() as session:
            clusters = await self._registry.all_clusters(session)
        if len(clusters) == 1:
            return await self.get(clusters[0].id)
        raise BadRequest(
            "Choose a cluster with X-Kubeconfig-Context or ?cluster= (no default cluster is configured)",
            error="invalid_parameter",
            details={"available_contexts": [cluster.id for cluster in clusters]},
        )

    async def get(self, cluster_id: str) -> ClusterTarget:
        try:
            view = await self._registry.cached_view(cluster_id)
        except NotFound:
            view = await self._by_name(cluster_id)
        key = (view.transport, view.kubeconfig_path, view.kube_context)
        cached = self._cache.get(view.id)
        if cached is None or cached[0] != key:
            async with self._lock:
                cached = self._cache.get(view.id)
                if cached is None or cached[0] != key:
                    if cached is not None:
                        await cached[3].close()
                        await cached[1].close()
                    ops = await self._connect(view)
                    cached = (key, ops, ResourceResolver(ops), InformerListOps(ops))
                    self._cache[view.id] = cached
        return ClusterTarget(view=view, ops=cached[1], resolver=cached[2], snapshot_ops=cached[3])

    def reachable_here(self, cluster_id: str, transport: str) -> bool:
        """Whether this server can reach the cluster: directly, or through an executor's tunnel
        connected to this server."""
        return transport == TRANSPORT_DIRECT or bool(self._hub.connected(cluster_id))

    async def _by_name(self, name: str) -> ClusterView:
        async with self._registry.database.session() as session:
            clusters = await self._registry.all_clusters(session)
        for cluster in clusters:
            if cluster.name == name:
                return await self._registry.cached_view(cluster.id)
        raise InvalidContext(
            f"Unknown cluster context: {name}",
            details={"available_contexts": [cluster.id for cluster in clusters]},
        )

    async def _connect(self, view: ClusterView) -> ClusterOps:
        if view.transport == TRANSPORT_DIRECT:
            try:
                return await DirectClusterOps.from_kubeconfig(view.kubeconfig_path, view.kube_context)
            except ClusterUnavailable as error:
                raise InvalidContext(str(error), details={"cluster_id": view.id}) from error
        return TunnelClusterOps(self._hub, view.id)

    async def describe(self, view: ClusterView) -> dict[str, Any]:
        """One entry of ``GET /api/v1/contexts``: the kubeconfig's view of it and whether it answers."""
        entry: dict[str, Any] = {
            "name": view.id,
            "display_name": view.name,
            "cluster_id": view.id,
            "transport": view.transport,
            "security_mode": view.security_mode.value,
            "namespace": "default",
        }
        if view.transport == TRANSPORT_DIRECT:
            entry.update(_kubeconfig_details(view))
        else:
            tunnels = self._hub.connected(view.id)
            entry["cluster"] = {"name": view.id, "server": f"tunnel://{view.id}"}
            entry["user"] = {"name": f"executor:{view.id}"}
            entry["executors"] = [
                {
                    "executor_id": tunnel.executor_id,
                    "version": tunnel.version,
                    "connected_at": tunnel.connected_at,
                }
                for tunnel in tunnels
            ]
        try:
            target = await self.get(view.id)
            version = await asyncio.wait_for(target.ops.server_version(), REACHABILITY_TIMEOUT_SECONDS)
        except TimeoutError:
            entry.update(is_reachable=False, error="connection_timeout")
        except Exception as error:  # anything that stops a version call means "not reachable"
            entry.update(
                is_reachable=False,
                error=str(getattr(error, "message", None) or error) or type(error).__name__,
            )
        else:
            entry.update(is_reachable=True, kubernetes_version=kubernetes_version(version))
        return entry

    async def close(self) -> None:
        for _, ops, _, snapshot_ops in self._cache.values():
            await snapshot_ops.close()
            await ops.close()
        self._cache.clear()


def kubernetes_version(version: dict[str, Any]) -> str:
    """``1.37.0`` out of a /version document (gitVersion without the v and build suffix)."""
    git = str(version.get("gitVersion") or "")
    if git.startswith("v"):
        return git[1:].split("-", 1)[0].split("+", 1)[0]
    return f"{version.get('major', '')}.{version.get('minor', '')}"


def _kubeconfig_details(view: ClusterView) -> dict[str, Any]:
    try:
        contexts, current = list_kube_config_contexts(view.kubeconfig_path)
    except Exception as error:  # the file may have changed or gone since it was registered
        return {"cluster": {"name": view.id}, "user": {}, "error": f"kubeconfig: {error}"}
    wanted = view.kube_context or (current or {}).get("name")
    context = next((entry for entry in contexts if entry.get("name") == wanted), None) or {}
    fields = context.get("context") or {}
    return {
        "kube_context": wanted,
        "kubeconfig": view.kubeconfig_path,
        "cluster": {"name": fields.get("cluster")},
        "user": {"name": fields.get("user")},
        "namespace": fields.get("namespace") or "default",
    }
