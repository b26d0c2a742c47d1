"""A simulated cluster behind a real ``DirectClusterOps``, for the read-only views' service tests.

``sim_view(tmp_path, "healthy", ...)`` installs scenarios (and extra manifests) on a cluster with
a manual clock starting at a fixed instant, lets ``settle`` simulated seconds pass, serves it over
HTTP on 127.0.0.1 and yields the services' inputs: ``ops``, ``resolver`` and ``now``. Test
modules wrap it in their own fixtures (a conftest is not ours to write).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pilothouse.kube.direct import DirectClusterOps
from pilothouse.kube.resolver import ResourceResolver
from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.scenario import NodeSpec, add_nodes, combine, install, load_scenario
from pilothouse.sim.serving import SimServer

JsonObject = dict[str, Any]
# A fixed start keeps every timestamp, and so every time-window test, reproducible. 02:00 UTC:
# the healthy scenario's nightly CronJob (02:30) runs within a test's reach.
START = datetime(2026, 2, 10, 2, 0, tzinfo=UTC)


@dataclass
class SimView:
    cluster: SimCluster
    server: SimServer
    ops: DirectClusterOps
    resolver: ResourceResolver

    @property
    def now(self) -> datetime:
        """The simulated cluster's current time (what "now" means to the services in tests)."""
        return datetime.fromtimestamp(self.cluster.clock.now(), UTC)

    def advance(self, seconds: float) -> None:
        self.cluster.advance(seconds, step=1.0)

    def objects(self, group: str, kind: str, namespace: str | None = None) -> list[JsonObject]:
        """What the cluster really holds: the truth the services' answers are checked against."""
        return self.cluster.objects_of(group, kind, namespace)


@asynccontextmanager
async def sim_view(
    tmp_path: Path,
    *scenarios: str,
    manifests: Iterable[JsonObject] = (),
    extra_nodes: Sequence[NodeSpec] = (),
    settle: float = 90.0,
) -> AsyncIterator[SimView]:
    cluster = SimCluster(seed=7, manual_clock=True, start_time=START.timestamp(), data_dir=tmp_path / "sim")
    if scenarios:
        install(cluster, combine([load_scenario(name) for name in scenarios]))
    if extra_nodes:
        add_nodes(cluster, list(extra_nodes))
    extra = list(manifests)
    if extra:
        cluster.apply(*extra)
    cluster.advance(settle, step=1.0)
    async with SimServer(cluster, state_dir=tmp_path / "server") as server:
        assert server.kubeconfig_path is not None
        ops = await DirectClusterOps.from_kubeconfig(str(server.kubeconfig_path))
        try:
            yield SimView(cluster, server, ops, ResourceResolver(ops))
        finally:
            await ops.close()


def resource_quota(namespace: str, name: str, hard: dict[str, str]) -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"hard": hard},
    }


def namespace(name: str, labels: dict[str, str] | None = None) -> JsonObject:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


def bare_pod(namespace: str, name: str, labels: dict[str, str] | None = None) -> JsonObject:
    """A pod no controller owns (busybox is in the healthy scenario's registry)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "busybox:1.37",
                    "command": ["sleep", "3600"],
                    "resources": {"requests": {"cpu": "25m", "memory": "16Mi"}},
                }
            ]
        },
    }


def network_policy(namespace: str, name: str) -> JsonObject:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


def name_of(obj: JsonObject) -> str:
    return str(obj["metadata"]["name"])
