"""GET /api/v1/topology, service level: what each depth adds, joins by owner and selector, scope."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pilothouse.kube.ops import ListQuery
from pilothouse.sim.scenario import NodeSpec
from pilothouse.topology.schemas import Topology, TopologyNamespace
from pilothouse.topology.service import TopologyQuery, node_role, topology
from tests.cluster_api.views_fixtures import SimView, bare_pod, network_policy, resource_quota, sim_view

CONTROL_PLANE = NodeSpec(
    "control-1",
    labels={"node-role.kubernetes.io/control-plane": ""},
    taints=({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},),
)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[SimView]:
    """healthy (shop; its CronJob has run once by 02:31), crashloop-missing-env (payments), a
    tainted control-plane node, a bare pod, a quota and two network policies."""
    manifests = [
        bare_pod("shop", "debug", labels={"app": "web"}),
        resource_quota("payments", "pods", {"pods": "10"}),
        network_policy("shop", "deny-all"),
        network_policy("shop", "allow-web"),
        network_policy("payments", "deny-all"),
    ]
    async with sim_view(
        tmp_path,
        "healthy",
        "crashloop-missing-env",
        manifests=manifests,
        extra_nodes=[CONTROL_PLANE],
        settle=31 * 60,
    ) as view:
        yield view


def _namespace(result: Topology, name: str) -> TopologyNamespace:
    return next(namespace for namespace in result.namespaces if namespace.name == name)


async def test_summary_counts_match_the_cluster(cluster: SimView) -> None:
    result = await topology(cluster.ops, cluster.resolver, "sim-1", TopologyQuery(depth=1), now=cluster.now)
    pods = cluster.objects("", "Pod")
    assert result.cluster.model_dump() == {
        "name": "sim-1",
        "version": "1.37.0",
        "total_nodes": 4,
        "total_pods": len(pods),
        "total_services": len(cluster.objects("", "Service")),
    }
    assert [node.name for node in result.nodes] == ["control-1", "node-1", "node-2", "node-3"]
    per_node = Counter(pod["spec"].get("nodeName") for pod in pods)
    for node in result.nodes:
        assert node.pod_count == per_node[node.name]
        assert node.pods is None  # depth 1
        assert node.status == "Ready"
        assert node.cpu_available_cores == "3.9"
        assert node.memory_available_bytes == str(16 * 2**30 - 356 * 2**20)
    control = result.nodes[0]
    assert control.role == "control-plane"
    assert control.taints == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    assert {node.role for node in result.nodes[1:]} == {"worker"}

    per_namespace = Counter(pod["metadata"]["namespace"] for pod in pods)
    assert {ns.name: ns.pod_count for ns in result.namespaces} == {
        ns["metadata"]["name"]: per_namespace[ns["metadata"]["name"]]
        for ns in cluster.objects("", "Namespace")
    }
    shop = _namespace(result, "shop")
    assert shop.workloads.model_dump() == {
        "deployments": 3,
        "statefulsets": 0,
        "daemonsets": 0,
        "jobs": len(cluster.objects("batch", "Job", "shop")),
        "cronjobs": 1,
    }
    assert shop.workloads.jobs == 1  # the nightly report ran at 02:30
    assert _namespace(result, "payments").resource_quota_enforced
    assert not shop.resource_quota_enforced
    assert shop.workload_items is None and shop.services is None  # depth 1
    assert result.network_policies.model_dump() == {"total": 3, "by_namespace": {"payments": 1, "shop": 2}}
    assert result.events is None


async def test_depth_two_lists_each_nodes_pods_with_kubectl_status(cluster: SimView) -> None:
    result = await topology(cluster.ops, cluster.resolver, "sim", TopologyQuery(depth=2), now=cluster.now)
    listed = {
        (pod["namespace"], pod["name"]): pod["status"] for node in result.nodes for pod in node.pods or []
    }
    scheduled = [pod for pod in cluster.objects("", "Pod") if pod["spec"].get("nodeName")]
    assert len(listed) == len(scheduled)
    statuses = Counter(status for (namespace, _), status in listed.items() if namespace == "payments")
    # The phase says Running; kubectl (and so the topology) says why it is not.
    assert statuses["CrashLoopBackOff"] == 2
    assert Counter(listed.values())["Completed"] == 1  # the report job's pod
    for node in result.nodes:
        assert node.pods is not None and len(node.pods) == node.pod_count
        assert node.pods == sorted(node.pods, key=lambda pod: (pod["namespace"], pod["name"]))
    assert all(ns.workload_items is None for ns in result.namespaces)


async def test_depth_three_joins_workloads_pods_and_services(cluster: SimView) -> None:
    result = await topology(cluster.ops, cluster.resolver, "sim", TopologyQuery(depth=3), now=cluster.now)
    shop = _namespace(result, "shop")
    assert shop.workload_items is not None and shop.services is None
    kinds = [(item.kind, item.name) for item in shop.workload_items]
    assert kinds == [
        ("Deployment", "api"),
        ("Deployment", "cache"),
        ("Deployment", "web"),
        ("CronJob", "nightly-report"),
    ]
    items = {item.name: item for item in shop.workload_items}
    web = items["web"]
    assert (web.replicas, web.ready_replicas) == (2, 2)
    assert web.services == ["web"]
    web_pods = sorted(
        pod["metadata"]["name"]
        for pod in cluster.objects("", "Pod", "shop")
        if pod["metadata"]["name"].startswith("web-")
    )
    assert [pod["name"] for pod in web.pods] == web_pods and len(web_pods) == 2
    assert all(pod["status"] == "Running" and pod.get("node") for pod in web.pods)
    assert web.owned is None  # depth 4
    # CronJob -> Job -> Pod: the report's pod belongs to the CronJob.
    report = items["nightly-report"]
    assert report.replicas is None and [pod["status"] for pod in report.pods] == ["Completed"]
    assert report.services == []
    payments = _namespace(result, "payments")
    assert payments.workload_items is not None
    api = next(item for item in payments.workload_items if item.name == "payments-api")
    assert sorted(pod["status"] for pod in api.pods) == ["CrashLoopBackOff", "CrashLoopBackOff"]


async def test_depth_four_and_five(cluster: SimView) -> None:
    result = await topology(cluster.ops, cluster.resolver, "sim", TopologyQuery(depth=4), now=cluster.now)
    shop = _namespace(result, "shop")
    assert shop.workload_items is not None and shop.services is not None and shop.standalone_pods is not None
    items = {item.name: item for item in shop.workload_items}
    web_owned = items["web"].owned
    assert web_owned is not None and len(web_owned) == 1
    assert web_owned[0]["kind"] == "ReplicaSet"
    assert web_owned[0]["pods"] == [pod["name"] for pod in items["web"].pods]
    report_owned = items["nightly-report"].owned
    assert report_owned is not None and [owned["kind"] for owned in report_owned] == ["Job"]
    # The bare pod belongs to no workload, and the web Service selects it too (app=web).
    assert [pod["name"] for pod in shop.standalone_pods] == ["debug"]
    services = {service.name: service for service in shop.services}
    assert services["web"].selector == {"app": "web"}
    assert services["web"].pods == sorted([*(pod["name"] for pod in items["web"].pods), "debug"])
    assert services["web"].type == "ClusterIP" and services["web"].cluster_ip
    assert "containers" not in shop.standalone_pods[0]

    deep = await topology(cluster.ops, cluster.resolver, "sim", TopologyQuery(depth=5), now=cluster.now)
    payments = _namespace(deep, "payments")
    assert payments.workload_items is not None
    api = next(item for item in payments.workload_items if item.name == "payments-api")
    containers = [container for pod in api.pods for container in pod.get("containers", [])]
    assert len(containers) == 2
    assert all(c.get("state") == "waiting" and c.get("reason") == "CrashLoopBackOff" for c in containers)
    assert all(not c["ready"] and c["restart_count"] > 0 and c.get("image") for c in containers)


async def test_namespace_scope(cluster: SimView) -> None:
    result = await topology(
        cluster.ops, cluster.resolver, "sim", TopologyQuery(depth=2, namespace="payments"), now=cluster.now
    )
    pods = cluster.objects("", "Pod", "payments")
    assert result.cluster.total_pods == len(pods) == 3
    assert result.cluster.total_services == len(cluster.objects("", "Service", "payments"))
    assert result.cluster.total_nodes == 4  # nodes are cluster-wide
    assert [ns.name for ns in result.namespaces] == ["payments"]
    assert {pod["namespace"] for node in result.nodes for pod in node.pods or []} == {"payments"}
    assert sum(node.pod_count for node in result.nodes) == 3
    assert result.network_policies.model_dump() == {"total": 1, "by_namespace": {"payments": 1}}


async def test_metrics_and_events(cluster: SimView) -> None:
    without = await topology(
        cluster.ops, cluster.resolver, "sim", TopologyQuery(depth=1, include_metrics=False), now=cluster.now
    )
    assert without.metrics_available is None and all(node.metrics is None for node in without.nodes)

    result = await topology(
        cluster.ops, cluster.resolver, "sim", TopologyQuery(depth=1, include_events=True), now=cluster.now
    )
    assert result.metrics_available is True
    samples = {
        item["metadata"]["name"]: item
        for item in (
            await cluster.ops.list(await cluster.resolver.resolve("nodes.metrics.k8s.io"), ListQuery())
        ).items
    }
    for node in result.nodes:
        assert node.metrics is not None
        assert node.metrics.cpu_percent is not None and 0 < node.metrics.cpu_percent < 100
        assert (
            int(node.metrics.memory_usage_bytes or "0")
            == int(samples[node.name]["usage"]["memory"][:-2]) * 1024
        )
    assert result.events is not None and result.events
    assert {event.type for event in result.events} == {"Warning"}
    stamps = [event.timestamp for event in result.events]
    assert stamps == sorted(stamps, reverse=True)


async def test_without_metrics_server_the_rest_still_answers(cluster: SimView) -> None:
    cluster.cluster.registry.remove_group_resource("metrics.k8s.io", "nodes")
    cluster.cluster.registry.remove_group_resource("metrics.k8s.io", "pods")
    result = await topology(cluster.ops, cluster.resolver, "sim", TopologyQuery(depth=1), now=cluster.now)
    assert result.metrics_available is False
    assert all(node.metrics is None for node in result.nodes)
    assert result.cluster.total_nodes == 4


async def test_a_pod_being_deleted_is_terminating(cluster: SimView) -> None:
    pods = await cluster.resolver.resolve("pods")
    await cluster.ops.delete(pods, "debug", "shop", grace_period_seconds=30)
    result = await topology(cluster.ops, cluster.resolver, "sim", TopologyQuery(depth=4, namespace="shop"))
    shop = _namespace(result, "shop")
    assert shop.standalone_pods is not None
    assert [(pod["name"], pod["status"]) for pod in shop.standalone_pods] == [("debug", "Terminating")]


def test_node_roles() -> None:
    assert node_role({}) == "worker"
    assert node_role({"node-role.kubernetes.io/control-plane": ""}) == "control-plane"
    assert node_role({"node-role.kubernetes.io/master": "", "node-role.kubernetes.io/control-plane": ""}) == (
        "control-plane,master"
    )
    assert node_role({"kubernetes.io/role": "gpu"}) == "gpu"
    assert node_role({"node-role.kubernetes.io/": "true"}) == "worker"
