"""ReplicaSet controller: replicas kept, pods claimed and released, deletion order, failures, status."""

from __future__ import annotations

import pytest

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.controllers.base import condition
from pilothouse.sim.controllers.replicaset import ReplicaSetController
from pilothouse.sim.controllers.workloads import deletion_order, slow_start_batch
from pilothouse.sim.resources import ResourceType
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import JsonObject, clone
from tests.sim.controllers.simkit import events, get, make_cluster
from tests.sim.controllers.workloadkit import (
    NS,
    names,
    patch_spec,
    pods,
    ready,
    settle,
    workload,
    writes,
)


def _rs(cluster: SimCluster) -> JsonObject:
    return get(cluster, "ReplicaSet", NS, "web", "apps")


@pytest.fixture
def cluster() -> SimCluster:
    return make_cluster(ReplicaSetController)


def test_creates_replicas_named_after_the_set_with_events_and_status(cluster: SimCluster) -> None:
    cluster.apply(workload("ReplicaSet", "web", replicas=3))
    created = pods(cluster, "web-")
    assert len(created) == 3
    for pod in created:
        assert len(pod["metadata"]["name"]) == len("web-") + 5
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
        assert pod["metadata"]["labels"] == {"app": "web"}
    assert sorted(m for _, r, m in events(cluster, _rs(cluster)) if r == "SuccessfulCreate") == sorted(
        f"Created pod: {n}" for n in names(created)
    )
    assert _rs(cluster)["status"] == {"replicas": 3, "fullyLabeledReplicas": 3, "observedGeneration": 1}
    settle(cluster, "web-")
    assert _rs(cluster)["status"] == {
        "replicas": 3,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "observedGeneration": 1,
    }


def test_scale_down_deletes_unready_then_newest_first(cluster: SimCluster) -> None:
    cluster.apply(workload("ReplicaSet", "web", replicas=3))
    first, second, third = pods(cluster, "web-")
    ready(cluster, first)
    cluster.advance(10)
    ready(cluster, second)
    ready(cluster, third, is_ready=False)
    patch_spec(cluster, "apps", "ReplicaSet", "web", replicas=1)
    assert names(pods(cluster, "web-")) == [first["metadata"]["name"]]
    deleted = [m for _, r, m in events(cluster, _rs(cluster)) if r == "SuccessfulDelete"]
    assert deleted == [
        f"Deleted pod: {third['metadata']['name']}",
        f"Deleted pod: {second['metadata']['name']}",
    ]


def test_deletion_order_ranks() -> None:
    def pod(name: str, node: str | None, phase: str, ready_at: str | None, created: str) -> JsonObject:
        conditions = [{"type": "Ready", "status": "True", "lastTransitionTime": ready_at}] if ready_at else []
        spec = {"nodeName": node} if node else {}
        return {
            "metadata": {"name": name, "creationTimestamp": created},
            "spec": spec,
            "status": {"phase": phase, "conditions": conditions},
        }

    old_ready = pod("old-ready", "n1", "Running", "2024-01-01T00:01:00Z", "2024-01-01T00:00:00Z")
    new_ready = pod("new-ready", "n1", "Running", "2024-01-01T00:05:00Z", "2024-01-01T00:04:00Z")
    not_ready = pod("not-ready", "n1", "Running", None, "2024-01-01T00:00:00Z")
    pending = pod("pending", "n1", "Pending", None, "2024-01-01T00:00:00Z")
    unscheduled = pod("unscheduled", None, "Pending", None, "2024-01-01T00:00:00Z")
    ordered = deletion_order([old_ready, new_ready, not_ready, pending, unscheduled])
    assert names(ordered) == ["unscheduled", "pending", "not-ready", "new-ready", "old-ready"]
    # Pods doubled up on a node go before equally healthy ones on their own.
    assert names(deletion_order([old_ready, new_ready], {"old-ready": 2, "new-ready": 1})) == [
        "old-ready",
        "new-ready",
    ]


@pytest.mark.parametrize(
    ("count", "failing", "attempted", "succeeded"),
    [
        (5, set(), 5, 5),
        (10, {0}, 1, 0),  # the first batch is one pod: stop there
        (10, {3}, 7, 6),  # batches of 1, 2, 4: the failing batch still completes
    ],
)
def test_slow_start_batches(count: int, failing: set[int], attempted: int, succeeded: int) -> None:
    calls: list[int] = []

    def create(index: int) -> None:
        calls.append(index)
        if index in failing:
            raise StatusError(403, "Forbidden", "quota exceeded")

    done, error = slow_start_batch(count, create)
    assert (len(calls), done, error is not None) == (attempted, succeeded, bool(failing))


def test_adopts_matching_orphans_and_releases_pods_that_stop_matching(cluster: SimCluster) -> None:
    orphan = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "stray", "namespace": NS, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
    }
    cluster.apply(orphan)
    cluster.apply(workload("ReplicaSet", "web", replicas=2))
    adopted = get(cluster, "Pod", NS, "stray")
    assert adopted["metadata"]["ownerReferences"][0]["name"] == "web"
    assert len(pods(cluster)) == 2  # the orphan counts: only one pod created
    relabelled = clone(adopted)
    relabelled["metadata"]["labels"] = {"app": "debug"}
    cluster.objects.save(cluster.resource("", "Pod"), relabelled)
    cluster.engine.drain()
    assert "ownerReferences" not in get(cluster, "Pod", NS, "stray")["metadata"]
    assert len([p for p in pods(cluster) if p["metadata"].get("ownerReferences")]) == 2


def _refuse_pods(cluster: SimCluster, message: str) -> list[bool]:
    """Install an admission check that refuses pods while the returned flag is set."""
    refusing = [True]

    def check(resource: ResourceType, obj: JsonObject) -> None:
        if resource.kind == "Pod" and refusing[0]:
            raise StatusError(403, "Forbidden", message)

    cluster.objects.admission.append(check)
    return refusing


def test_refused_creation_is_an_event_and_a_condition_and_is_retried(cluster: SimCluster) -> None:
    message = (
        'pods "web-" is forbidden: error looking up service account default/builder: '
        'serviceaccount "builder" not found'
    )
    refusing = _refuse_pods(cluster, message)
    cluster.apply(workload("ReplicaSet", "web", replicas=2))
    failure = condition(_rs(cluster), "ReplicaFailure")
    assert failure is not None
    assert (failure["status"], failure["reason"], failure["message"]) == ("True", "FailedCreate", message)
    assert ("Warning", "FailedCreate", f"Error creating: {message}") in events(cluster, _rs(cluster))
    refusing[0] = False
    cluster.advance(60)
    assert len(pods(cluster, "web-")) == 2
    assert condition(_rs(cluster), "ReplicaFailure") is None


def test_available_after_min_ready_seconds_without_other_events(cluster: SimCluster) -> None:
    cluster.apply(workload("ReplicaSet", "web", replicas=1, minReadySeconds=30))
    ready(cluster, pods(cluster, "web-")[0])
    assert _rs(cluster)["status"].get("availableReplicas") is None
    cluster.advance(29)
    assert _rs(cluster)["status"].get("availableReplicas") is None
    cluster.advance(1)
    assert _rs(cluster)["status"]["availableReplicas"] == 1


def test_an_idle_set_writes_nothing(cluster: SimCluster) -> None:
    cluster.apply(workload("ReplicaSet", "web", replicas=2))
    settle(cluster, "web-")
    before = writes(cluster)
    cluster.engine.enqueue(ReplicaSetController.name, f"{NS}/web")
    cluster.advance(3600)
    assert writes(cluster) == before
