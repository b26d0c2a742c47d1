"""DaemonSet controller: node eligibility (tables), one pinned pod per node, node changes, rolling updates."""

from __future__ import annotations

from typing import Any

import pytest

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.controllers.daemonset import (
    DaemonSetController,
    Eligibility,
    node_should_run,
    target_node,
    with_daemon_tolerations,
)
from pilothouse.sim.store import JsonObject, clone
from tests.sim.controllers.simkit import events, get, make_cluster, node
from tests.sim.controllers.workloadkit import (
    NS,
    delete,
    pods,
    ready,
    remove_terminating,
    set_image,
    settle,
    workload,
    writes,
)

NO_SCHEDULE = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
NO_EXECUTE = {"key": "dedicated", "value": "gpu", "effect": "NoExecute"}


def _spec(**fields: Any) -> JsonObject:
    spec: JsonObject = {"containers": [{"name": "app", "image": "agent"}], **fields}
    spec["tolerations"] = with_daemon_tolerations(spec)
    return spec


@pytest.mark.parametrize(
    ("node_fields", "pod_fields", "expected"),
    [
        ({}, {}, Eligibility(True, True)),
        ({"taints": [NO_SCHEDULE]}, {}, Eligibility(False, True)),  # a running pod may stay
        ({"taints": [NO_EXECUTE]}, {}, Eligibility(False, False)),
        (
            {"taints": [NO_SCHEDULE]},
            {"tolerations": [{"key": "dedicated", "operator": "Exists"}]},
            Eligibility(True, True),
        ),
        (
            {"taints": [NO_SCHEDULE]},
            {"tolerations": [{"key": "dedicated", "value": "cpu"}]},
            Eligibility(False, True),
        ),
        # The daemon's own tolerations: cordoned, not-ready and pressured nodes still run it.
        (
            {
                "taints": [
                    {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                    {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"},
                    {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"},
                ]
            },
            {},
            Eligibility(True, True),
        ),
        (
            {"taints": [{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]},
            {},
            Eligibility(False, True),
        ),
        (
            {"taints": [{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]},
            {"hostNetwork": True},
            Eligibility(True, True),
        ),
        ({}, {"nodeSelector": {"disk": "ssd"}}, Eligibility(False, False)),
        (
            {},
            {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {
                                            "key": "kubernetes.io/hostname",
                                            "operator": "In",
                                            "values": ["node-1"],
                                        }
                                    ]
                                }
                            ]
                        }
                    }
                }
            },
            Eligibility(True, True),
        ),
        (
            {},
            {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchFields": [
                                        {"key": "metadata.name", "operator": "NotIn", "values": ["node-1"]}
                                    ]
                                }
                            ]
                        }
                    }
                }
            },
            Eligibility(False, False),
        ),
    ],
)
def test_node_should_run(node_fields: JsonObject, pod_fields: JsonObject, expected: Eligibility) -> None:
    assert node_should_run(node("node-1", **node_fields), _spec(**pod_fields)) == expected


def test_daemon_tolerations_replace_the_defaulted_ones() -> None:
    defaulted = {
        "tolerations": [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
        ]
    }
    tolerations = with_daemon_tolerations(defaulted)
    assert tolerations[0] == {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
    }
    assert [t["key"].rsplit("/", 1)[1] for t in tolerations] == [
        "not-ready",
        "unreachable",
        "disk-pressure",
        "memory-pressure",
        "pid-pressure",
        "unschedulable",
    ]


@pytest.fixture
def cluster() -> SimCluster:
    cluster = make_cluster(DaemonSetController)
    cluster.apply(node("node-1"), node("node-2"), node("node-3", taints=[NO_SCHEDULE]))
    return cluster


def _ds(cluster: SimCluster) -> JsonObject:
    return get(cluster, "DaemonSet", NS, "agent", "apps")


def _nodes_of(cluster: SimCluster) -> list[str]:
    return sorted(target_node(p) or "" for p in pods(cluster, "agent-"))


def test_one_pinned_pod_per_eligible_node(cluster: SimCluster) -> None:
    cluster.apply(workload("DaemonSet", "agent", replicas=None))
    assert _nodes_of(cluster) == ["node-1", "node-2"]
    pod = pods(cluster, "agent-")[0]
    assert "nodeName" not in pod["spec"]  # the scheduler binds it
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchFields"][0]["key"] == "metadata.name"
    labels = pod["metadata"]["labels"]
    assert labels["pod-template-generation"] == "1"
    revision = get(cluster, "ControllerRevision", NS, f"agent-{labels['controller-revision-hash']}", "apps")
    assert revision["revision"] == 1
    assert {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "spec"
    ]["tolerations"]
    settle(cluster, "agent-")
    assert _ds(cluster)["status"] == {
        "currentNumberScheduled": 2,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 2,
        "numberReady": 2,
        "observedGeneration": 1,
        "updatedNumberScheduled": 2,
        "numberAvailable": 2,
    }


def test_reacts_to_nodes_coming_going_and_changing(cluster: SimCluster) -> None:
    cluster.apply(workload("DaemonSet", "agent", replicas=None))
    cluster.apply(node("node-4"))
    assert _nodes_of(cluster) == ["node-1", "node-2", "node-4"]
    untainted = clone(get(cluster, "Node", "", "node-3"))
    untainted["spec"]["taints"] = []
    cluster.objects.save(cluster.resource("", "Node"), untainted)
    cluster.engine.drain()
    assert _nodes_of(cluster) == ["node-1", "node-2", "node-3", "node-4"]
    delete(cluster, "", "Node", "node-4")  # its pod was never scheduled: nothing else will clean it up
    assert _nodes_of(cluster) == ["node-1", "node-2", "node-3"]
    evicting = clone(get(cluster, "Node", "", "node-2"))
    evicting["spec"]["taints"] = [NO_EXECUTE]
    cluster.objects.save(cluster.resource("", "Node"), evicting)
    cluster.engine.drain()
    assert _nodes_of(cluster) == ["node-1", "node-3"]


def test_node_selector_changes_move_pods(cluster: SimCluster) -> None:
    cluster.apply(workload("DaemonSet", "agent", replicas=None))
    labelled = clone(get(cluster, "Node", "", "node-2"))
    labelled["metadata"]["labels"]["disk"] = "ssd"
    cluster.objects.save(cluster.resource("", "Node"), labelled)
    ds = clone(_ds(cluster))
    ds["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}
    cluster.objects.save(cluster.resource("apps", "DaemonSet"), ds)
    cluster.engine.drain()
    assert _nodes_of(cluster) == ["node-2"]


def test_rolling_update_replaces_one_node_at_a_time(cluster: SimCluster) -> None:
    cluster.apply(workload("DaemonSet", "agent", replicas=None))
    settle(cluster, "agent-")
    set_image(cluster, "apps", "DaemonSet", "agent", "agent:2")

    def images() -> list[str]:
        return sorted(p["spec"]["containers"][0]["image"] for p in pods(cluster, "agent-"))

    assert images() == ["nginx:1.27"]  # one old pod is terminating; its replacement waits for it
    remove_terminating(cluster)
    assert images() == ["agent:2", "nginx:1.27"]
    settle(cluster, "agent-")  # the new pod is available: the next node's turn
    remove_terminating(cluster)
    settle(cluster, "agent-")
    assert images() == ["agent:2", "agent:2"]
    assert _ds(cluster)["status"]["updatedNumberScheduled"] == 2
    assert len(cluster.objects_of("apps", "ControllerRevision", NS)) == 2


def test_failed_daemon_pods_are_replaced_with_back_off(cluster: SimCluster) -> None:
    cluster.apply(workload("DaemonSet", "agent", replicas=None))
    settle(cluster, "agent-")
    victim = next(p for p in pods(cluster, "agent-") if target_node(p) == "node-1")
    failed = clone(ready(cluster, victim))
    failed["status"]["phase"] = "Failed"
    cluster.objects.save(cluster.resource("", "Pod"), failed)
    cluster.engine.drain()
    assert victim["metadata"]["name"] not in [p["metadata"]["name"] for p in pods(cluster, "agent-")]
    assert _nodes_of(cluster) == ["node-1", "node-2"]
    message = f"Found failed daemon pod {NS}/{victim['metadata']['name']} on node node-1, will try to kill it"
    assert ("Warning", "FailedDaemonPod", message) in events(cluster, _ds(cluster))


def test_a_settled_daemonset_writes_nothing(cluster: SimCluster) -> None:
    cluster.apply(workload("DaemonSet", "agent", replicas=None))
    settle(cluster, "agent-")
    before = writes(cluster)
    heartbeat = clone(get(cluster, "Node", "", "node-1"))
    heartbeat["status"]["conditions"][0]["lastHeartbeatTime"] = "2024-01-01T00:00:00Z"
    cluster.objects.save(cluster.resource("", "Node"), heartbeat)
    after_heartbeat = writes(cluster)
    cluster.advance(3600)
    assert writes(cluster) == after_heartbeat == before + 1
