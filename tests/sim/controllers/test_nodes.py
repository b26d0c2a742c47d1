"""Node lifecycle: condition taints, NotReady pods and NoExecute eviction after tolerationSeconds."""

from __future__ import annotations

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.controllers.base import condition
from pilothouse.sim.controllers.nodes import NodeLifecycleController, node_is_down, toleration_seconds
from pilothouse.sim.store import JsonObject, clone
from tests.sim.controllers.simkit import events, get, make_cluster, node, pod, run_pod, set_node_ready

UNREACHABLE_EXECUTE = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}


def taints(cluster: SimCluster, name: str = "node-1") -> list[tuple[str, str]]:
    return [(t["key"], t["effect"]) for t in get(cluster, "Node", "", name)["spec"].get("taints") or []]


def cluster_with_running_pods(*pods: JsonObject) -> SimCluster:
    cluster = make_cluster(NodeLifecycleController)
    cluster.apply(node("node-1"), *pods)
    for manifest in pods:
        run_pod(cluster, "default", manifest["metadata"]["name"], ip="10.244.1.5")
    return cluster


def test_ready_node_has_no_taints_and_a_cordoned_one_is_unschedulable() -> None:
    cluster = make_cluster(NodeLifecycleController)
    cluster.apply(node("node-1"), node("node-2", unschedulable=True))

    assert taints(cluster, "node-1") == []
    assert taints(cluster, "node-2") == [("node.kubernetes.io/unschedulable", "NoSchedule")]
    assert get(cluster, "Node", "", "node-2")["spec"]["taints"][0]["timeAdded"]


def test_unreachable_node_is_tainted_and_its_pods_marked_not_ready() -> None:
    cluster = cluster_with_running_pods(pod("web-0"))
    web = get(cluster, "Pod", "default", "web-0")

    set_node_ready(cluster, "node-1", "Unknown")

    assert sorted(taints(cluster)) == [
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoSchedule"),
    ]
    assert node_is_down(get(cluster, "Node", "", "node-1"))
    ready = condition(get(cluster, "Pod", "default", "web-0"), "Ready")
    assert ready is not None
    assert ready["status"] == "False"
    assert ("Warning", "NodeNotReady", "Node is not ready") in events(cluster, web)
    assert ("Normal", "NodeNotReady", "Node node-1 status is now: NodeNotReady") in events(
        cluster, get(cluster, "Node", "", "node-1")
    )


def test_not_ready_node_gets_the_not_ready_taints() -> None:
    cluster = cluster_with_running_pods()

    set_node_ready(cluster, "node-1", "False")

    assert sorted(taints(cluster)) == [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/not-ready", "NoSchedule"),
    ]


def test_pods_are_evicted_after_their_toleration_seconds_and_stay_terminating() -> None:
    cluster = cluster_with_running_pods(pod("web-0"))  # defaulted: tolerates unreachable for 300 s
    set_node_ready(cluster, "node-1", "Unknown")

    cluster.advance(299)
    assert not get(cluster, "Pod", "default", "web-0")["metadata"].get("deletionTimestamp")

    cluster.advance(1)
    evicted = get(cluster, "Pod", "default", "web-0")
    assert evicted["metadata"]["deletionTimestamp"]  # no kubelet on a down node finishes it
    assert ("Normal", "TaintManagerEviction", "Marking for deletion Pod default/web-0") in events(
        cluster, evicted
    )
    target = condition(evicted, "DisruptionTarget")
    assert target is not None
    assert target["reason"] == "DeletionByTaintManager"


def test_pods_not_tolerating_the_taint_go_at_once_and_tolerating_forever_stay() -> None:
    intolerant = pod("batch-0", tolerations=[])
    forever = pod(
        "agent-0",
        tolerations=[{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}],
    )
    cluster = cluster_with_running_pods(intolerant, forever)
    # Creation defaulting adds the 300 s tolerations; take them away again for the intolerant pod.
    bare = clone(get(cluster, "Pod", "default", "batch-0"))
    bare["spec"]["tolerations"] = []
    cluster.objects.save(cluster.resource("", "Pod"), bare)

    set_node_ready(cluster, "node-1", "Unknown")
    assert get(cluster, "Pod", "default", "batch-0")["metadata"]["deletionTimestamp"]

    cluster.advance(3600)
    assert not get(cluster, "Pod", "default", "agent-0")["metadata"].get("deletionTimestamp")


def test_recovering_node_cancels_pending_evictions_and_loses_its_taints() -> None:
    cluster = cluster_with_running_pods(pod("web-0"))
    set_node_ready(cluster, "node-1", "Unknown")
    cluster.advance(100)

    set_node_ready(cluster, "node-1", "True")
    cluster.advance(400)

    web = get(cluster, "Pod", "default", "web-0")
    assert not web["metadata"].get("deletionTimestamp")
    assert ("Normal", "TaintManagerEviction", "Cancelling deletion of Pod default/web-0") in events(
        cluster, web
    )
    assert taints(cluster) == []
    assert not node_is_down(get(cluster, "Node", "", "node-1"))


def test_an_idle_healthy_node_is_never_rewritten() -> None:
    cluster = cluster_with_running_pods(pod("web-0"))
    version = get(cluster, "Node", "", "node-1")["metadata"]["resourceVersion"]

    cluster.advance(600)

    assert get(cluster, "Node", "", "node-1")["metadata"]["resourceVersion"] == version


def test_toleration_seconds_takes_the_shortest_matching_toleration() -> None:
    short = {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 30,
    }
    wide = {"operator": "Exists", "tolerationSeconds": 600}
    assert toleration_seconds({"spec": {"tolerations": [short, wide]}}, [UNREACHABLE_EXECUTE]) == 30
    assert toleration_seconds({"spec": {"tolerations": [wide]}}, [UNREACHABLE_EXECUTE]) == 600
    assert (
        toleration_seconds({"spec": {"tolerations": [{"operator": "Exists"}]}}, [UNREACHABLE_EXECUTE]) is None
    )
    assert toleration_seconds({"spec": {"tolerations": []}}, [UNREACHABLE_EXECUTE]) == 0
