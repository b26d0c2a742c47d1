"""GET /api/v1/metrics/nodes and /pods, service level: usage joined with allocatable, requests, limits.

The healthy scenario's containers use fixed amounts (its behaviours), so every percentage is
known in advance: web 15m of 100m requested (500m limit), 24Mi of 64Mi (128Mi); api 120m of
200m (1 core), 180Mi of 256Mi (512Mi); cache 10m of 50m (no CPU limit), 40Mi of 64Mi (256Mi).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from pilothouse.errors import ServiceUnavailable
from pilothouse.kube.ops import ClusterOps, KubeApiError, ListPage, ListQuery, ResourceType
from pilothouse.kube.quantity import parse_quantity
from pilothouse.metrics.service import node_metrics, node_status, pod_metrics
from tests.cluster_api.views_fixtures import SimView, sim_view

MI = 2**20


@pytest.fixture
async def healthy(tmp_path: Path) -> AsyncIterator[SimView]:
    async with sim_view(tmp_path, "healthy", "crashloop-missing-env") as view:
        yield view


async def test_pod_percentages_of_requests_and_limits(healthy: SimView) -> None:
    result = await pod_metrics(healthy.ops, healthy.resolver, namespace="shop", now=healthy.now)
    by_app = {pod.name.rsplit("-", 2)[0]: pod for pod in result.pods}
    assert set(by_app) == {"web", "api", "cache"}
    assert result.total_count == 5  # web 2, api 2, cache 1
    assert result.timestamp == "2026-02-10T02:01:30Z"

    web = by_app["web"].containers[0]
    assert web.name == "nginx"
    assert web.cpu.model_dump() == {
        "usage_cores": "0.015",
        "requests": "0.1",
        "limits": "0.5",
        "percent_of_request": 15.0,
        "percent_of_limit": 3.0,
    }
    assert web.memory.model_dump() == {
        "usage_bytes": str(24 * MI),
        "requests": str(64 * MI),
        "limits": str(128 * MI),
        "percent_of_request": 37.5,
        "percent_of_limit": 18.8,  # 18.75, half up
    }
    api = by_app["api"].containers[0]
    assert (api.cpu.usage_cores, api.cpu.requests, api.cpu.limits) == ("0.12", "0.2", "1")
    assert (api.cpu.percent_of_request, api.cpu.percent_of_limit) == (60.0, 12.0)
    assert (api.memory.percent_of_request, api.memory.percent_of_limit) == (70.3, 35.2)
    cache = by_app["cache"].containers[0]
    # No CPU limit: nothing to be a percentage of.
    assert (cache.cpu.limits, cache.cpu.percent_of_limit, cache.cpu.percent_of_request) == (None, None, 20.0)
    assert (cache.memory.percent_of_request, cache.memory.percent_of_limit) == (62.5, 15.6)


async def test_pod_filters_sort_and_limit(healthy: SimView) -> None:
    everything = await pod_metrics(healthy.ops, healthy.resolver, now=healthy.now)
    # Crash-looping containers are not running, so metrics-server has nothing for them.
    assert {pod.namespace for pod in everything.pods} == {"shop", "payments"}
    assert [(p.namespace, p.name) for p in everything.pods] == sorted(
        (p.namespace, p.name) for p in everything.pods
    )

    by_cpu = await pod_metrics(healthy.ops, healthy.resolver, namespace="shop", sort_by="cpu_usage")
    cpu = [sum(Decimal(c.cpu.usage_cores) for c in pod.containers) for pod in by_cpu.pods]
    assert cpu == sorted(cpu, reverse=True) and cpu[0] == Decimal("0.12") and cpu[-1] == Decimal("0.01")

    by_memory = await pod_metrics(
        healthy.ops, healthy.resolver, namespace="shop", sort_by="memory_usage", limit=2
    )
    assert by_memory.total_count == 5 and len(by_memory.pods) == 2
    assert {pod.name.rsplit("-", 2)[0] for pod in by_memory.pods} == {"api"}

    name = by_cpu.pods[-1].name
    one = await pod_metrics(healthy.ops, healthy.resolver, pod_name=name)
    assert [pod.name for pod in one.pods] == [name] and one.total_count == 1
    none = await pod_metrics(healthy.ops, healthy.resolver, namespace="payments", pod_name=name)
    assert none.pods == [] and none.total_count == 0


async def test_node_usage_against_allocatable(healthy: SimView) -> None:
    result = await node_metrics(healthy.ops, healthy.resolver, now=healthy.now)
    assert [node.name for node in result.nodes] == ["node-1", "node-2", "node-3"]
    pods = await pod_metrics(healthy.ops, healthy.resolver, limit=1000)
    pod_nodes = {
        (pod["metadata"]["namespace"], pod["metadata"]["name"]): pod["spec"].get("nodeName")
        for pod in healthy.objects("", "Pod")
    }
    cpu_per_node: Counter[str] = Counter()
    memory_per_node: Counter[str] = Counter()
    for pod in pods.pods:
        node = pod_nodes[(pod.namespace, pod.name)]
        for container in pod.containers:
            cpu_per_node[node] += Decimal(container.cpu.usage_cores)  # type: ignore[assignment]
            memory_per_node[node] += int(container.memory.usage_bytes)
    active = Counter(
        pod["spec"].get("nodeName")
        for pod in healthy.objects("", "Pod")
        if pod["status"].get("phase") not in ("Succeeded", "Failed")
    )
    allocatable_memory = 16 * 2**30 - 356 * MI  # the sim reserves 100Mi system + 256Mi eviction
    for node in result.nodes:
        assert node.status == "Ready"
        assert node.cpu.allocatable_cores == "3.9"
        assert node.memory.allocatable_bytes == str(allocatable_memory)
        # What the pods use plus the node's own daemons (0.08 cores, 600Mi in the simulation).
        usage = cpu_per_node[node.name] + Decimal("0.08")
        assert Decimal(node.cpu.usage_cores or "x") == usage
        assert node.cpu.percent == float((usage / Decimal("3.9") * 100).quantize(Decimal("0.1")))
        memory = memory_per_node[node.name] + 600 * MI
        assert node.memory.usage_bytes == str(memory)
        assert node.memory.percent == round(memory / allocatable_memory * 100, 1)
        assert node.pod_count == active[node.name]
        assert node.network is None and node.disk is None and node.cpu.throttling_detected is None
    assert sum(node.pod_count for node in result.nodes) == sum(active.values()) == 8


async def test_node_sorting_and_filter(healthy: SimView) -> None:
    by_cpu = await node_metrics(healthy.ops, healthy.resolver, sort_by="cpu_usage")
    cpu = [Decimal(node.cpu.usage_cores or "0") for node in by_cpu.nodes]
    assert cpu == sorted(cpu, reverse=True)
    by_memory = await node_metrics(healthy.ops, healthy.resolver, sort_by="memory_usage")
    memory = [int(node.memory.usage_bytes or "0") for node in by_memory.nodes]
    assert memory == sorted(memory, reverse=True)
    # metrics.k8s.io has no network figures: sorting by network is sorting by name.
    by_network = await node_metrics(healthy.ops, healthy.resolver, sort_by="network")
    assert [node.name for node in by_network.nodes] == ["node-1", "node-2", "node-3"]
    one = await node_metrics(healthy.ops, healthy.resolver, node_name="node-2")
    assert [node.name for node in one.nodes] == ["node-2"]
    assert one.nodes[0] == next(node for node in by_cpu.nodes if node.name == "node-2")
    assert (await node_metrics(healthy.ops, healthy.resolver, node_name="node-9")).nodes == []


async def test_a_node_without_a_sample(tmp_path: Path) -> None:
    # node-2 stops posting status after 60 s; metrics-server then has no sample for it.
    async with sim_view(tmp_path, "node-not-ready", settle=120) as view:
        result = await node_metrics(view.ops, view.resolver, sort_by="cpu_usage")
        last = result.nodes[-1]
        assert last.name == "node-2"
        assert last.status == "NotReady"
        assert last.cpu.usage_cores is None and last.cpu.percent is None
        assert last.memory.usage_bytes is None and last.memory.percent is None
        assert last.cpu.allocatable_cores == "3.9"
        assert all(node.cpu.usage_cores is not None for node in result.nodes[:-1])


async def test_metrics_server_missing_is_503(tmp_path: Path) -> None:
    async with sim_view(tmp_path, "healthy") as view:
        view.cluster.registry.remove_group_resource("metrics.k8s.io", "nodes")
        view.cluster.registry.remove_group_resource("metrics.k8s.io", "pods")
        for call in (
            node_metrics(view.ops, view.resolver),
            pod_metrics(view.ops, view.resolver),
        ):
            with pytest.raises(ServiceUnavailable) as raised:
                await call
            assert raised.value.message == "metrics-server is not available"
            assert raised.value.status_code == 503
            assert raised.value.error == "service_unavailable"


class _MetricsDown:
    """The cluster's ops, except that metrics.k8s.io answers as an APIService whose backend is down."""

    def __init__(self, ops: ClusterOps) -> None:
        self._ops = ops

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ops, name)

    async def list(self, resource: ResourceType, query: ListQuery) -> ListPage:
        if resource.group == "metrics.k8s.io":
            raise KubeApiError(
                503, "ServiceUnavailable", "the server is currently unable to handle the request"
            )
        return await self._ops.list(resource, query)


async def test_metrics_server_down_is_503(healthy: SimView) -> None:
    ops = cast(ClusterOps, _MetricsDown(healthy.ops))
    with pytest.raises(ServiceUnavailable) as raised:
        await node_metrics(ops, healthy.resolver)
    assert raised.value.message == "metrics-server is not available"
    assert "unable to handle" in raised.value.details["reason"]
    with pytest.raises(ServiceUnavailable):
        await pod_metrics(ops, healthy.resolver)


def test_node_status_reads_like_kubectl() -> None:
    def node(ready: str | None, unschedulable: bool = False) -> dict[str, object]:
        conditions = [{"type": "MemoryPressure", "status": "False"}]
        if ready is not None:
            conditions.append({"type": "Ready", "status": ready})
        return {"spec": {"unschedulable": unschedulable}, "status": {"conditions": conditions}}

    assert node_status(node("True")) == "Ready"
    assert node_status(node("False")) == "NotReady"
    assert node_status(node("Unknown")) == "NotReady"
    assert node_status(node(None)) == "Unknown"
    assert node_status(node("True", unschedulable=True)) == "Ready,SchedulingDisabled"


def test_allocatable_arithmetic_is_exact() -> None:
    # The figures above rely on this: 3900m is 3.9 cores exactly, Ki amounts are whole bytes.
    assert parse_quantity("3900m") == Decimal("3.9")
    assert parse_quantity("16411500Ki") == 16411500 * 1024
