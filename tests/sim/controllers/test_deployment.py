"""Deployment controller: rollout arithmetic (tables) and rollouts driven through a manual-clock cluster."""

from __future__ import annotations

from typing import Any

import pytest

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.controllers.base import condition
from pilothouse.sim.controllers.deployment import (
    DeploymentController,
    RollingStep,
    ScalableSet,
    SetSize,
    proportional_sizes,
    resolve_fenceposts,
    rolling_step,
)
from pilothouse.sim.controllers.replicaset import ReplicaSetController
from pilothouse.sim.podutil import is_pod_ready
from pilothouse.sim.resources import ResourceType
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import JsonObject, clone
from tests.sim.controllers.simkit import events, get, make_cluster
from tests.sim.controllers.workloadkit import (
    NS,
    patch_spec,
    pods,
    ready,
    remove_terminating,
    set_image,
    settle,
    workload,
    writes,
)

REVISION = "deployment.kubernetes.io/revision"


# Arithmetic -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("25%", "25%", 10, (3, 2)),  # surge rounds up, unavailable down
        ("25%", "25%", 1, (1, 0)),
        (2, "50%", 3, (2, 1)),
        (0, 0, 5, (0, 1)),  # both zero would never progress
        ("0%", "0%", 5, (0, 1)),
        (None, None, 3, (0, 1)),
    ],
)
def test_resolve_fenceposts(surge: Any, unavailable: Any, desired: int, expected: tuple[int, int]) -> None:
    assert resolve_fenceposts(surge, unavailable, desired) == expected


def test_fenceposts_reject_a_number_in_a_string() -> None:
    with pytest.raises(ValueError, match="not a percentage"):
        resolve_fenceposts("3", 0, 10)


@pytest.mark.parametrize(
    ("new", "olds", "expected"),
    [
        # A new set grows within surge, then stops the step.
        (SetSize(0, 0), [SetSize(10, 10)], RollingStep(3, [10], [10])),
        # At the surge limit: old sets shrink as far as availability allows.
        (SetSize(3, 0), [SetSize(10, 10)], RollingStep(3, [10], [8])),
        (SetSize(3, 3), [SetSize(8, 8)], RollingStep(5, [8], [8])),
        # Unavailable old replicas go first, within what the new set's unavailable pods leave.
        (SetSize(3, 0), [SetSize(10, 7)], RollingStep(3, [8], [8])),
        # Oldest sets shrink first.
        (SetSize(10, 10), [SetSize(2, 2), SetSize(3, 3)], RollingStep(10, [2, 3], [0, 0])),
        (SetSize(6, 6), [SetSize(4, 4), SetSize(3, 3)], RollingStep(6, [4, 3], [0, 2])),
        # A new set above the desired size shrinks to it.
        (SetSize(12, 12), [], RollingStep(10, [], [])),
    ],
)
def test_rolling_step(new: SetSize, olds: list[SetSize], expected: RollingStep) -> None:
    assert rolling_step(10, 3, 2, new, olds) == expected


@pytest.mark.parametrize(("surge", "unavailable"), [("25%", "25%"), (1, 0), (0, 1), ("50%", "10%")])
def test_a_whole_rollout_keeps_its_limits(surge: Any, unavailable: Any) -> None:
    desired = 10
    max_surge, max_unavailable = resolve_fenceposts(surge, unavailable, desired)
    new, olds = SetSize(0, 0), [SetSize(desired, desired)]
    for _ in range(50):
        step = rolling_step(desired, max_surge, max_unavailable, new, olds)
        sizes = step.old_after_scale_down
        available = min(new.available, step.new_replicas) + sum(
            min(old.available, size) for old, size in zip(olds, sizes, strict=True)
        )
        assert step.new_replicas + sum(sizes) <= desired + max_surge
        assert available >= desired - max_unavailable
        # Then every pod becomes available.
        new, olds = SetSize(step.new_replicas, step.new_replicas), [SetSize(size, size) for size in sizes]
        if new.replicas == desired and sum(sizes) == 0:
            return
    raise AssertionError("the rollout did not finish")


def _sets(*sizes: tuple[str, int, int | None, int]) -> list[ScalableSet]:
    return [
        ScalableSet(name, replicas, annotation, (float(created), name))
        for name, replicas, annotation, created in sizes
    ]


@pytest.mark.parametrize(
    ("desired", "expected"),
    [
        (20, [("old", 18), ("new", 5)]),  # 8*23/13 and 3*23/13 rounded; the rest to the largest
        (5, [("old", 5), ("new", 3)]),  # shrinking takes from the largest first
        (0, [("old", 0), ("new", 0)]),
        (10, [("old", 10), ("new", 3)]),  # room for 2 more: no set's share rounds up, the largest gets them
    ],
)
def test_proportional_sizes(desired: int, expected: list[tuple[str, int]]) -> None:
    sets = _sets(("old", 8, 13, 1), ("new", 3, 13, 2))
    assert proportional_sizes(sets, desired, 3, 11) == expected


def test_proportional_ties_grow_newer_and_shrink_older_first() -> None:
    sets = _sets(("old", 2, 4, 1), ("new", 2, 4, 2))
    assert proportional_sizes(sets, 4, 1, 4) == [("new", 3), ("old", 2)]
    assert proportional_sizes(sets, 2, 1, 4) == [("old", 1), ("new", 2)]


# The controller ----------------------------------------------------------------------------------


@pytest.fixture
def cluster() -> SimCluster:
    return make_cluster(ReplicaSetController, DeploymentController)


def _deployment(cluster: SimCluster) -> JsonObject:
    return get(cluster, "Deployment", NS, "web", "apps")


def _sets_by_revision(cluster: SimCluster) -> dict[str, JsonObject]:
    return {
        rs["metadata"]["annotations"][REVISION]: rs for rs in cluster.objects_of("apps", "ReplicaSet", NS)
    }


def _scaling_events(cluster: SimCluster) -> list[str]:
    return [
        message
        for _, reason, message in events(cluster, _deployment(cluster))
        if reason == "ScalingReplicaSet"
    ]


def _cond(obj: JsonObject, cond_type: str) -> tuple[str, str, str]:
    found = condition(obj, cond_type)
    assert found is not None, f"no {cond_type} condition"
    return found["status"], found["reason"], found["message"]


def test_first_rollout(cluster: SimCluster) -> None:
    cluster.apply(workload("Deployment", "web", replicas=3))
    (rs,) = cluster.objects_of("apps", "ReplicaSet", NS)
    digest = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{digest}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": digest}
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == digest
    assert rs["metadata"]["annotations"] == {
        REVISION: "1",
        "deployment.kubernetes.io/desired-replicas": "3",
        "deployment.kubernetes.io/max-replicas": "4",
    }
    assert _scaling_events(cluster) == [f"Scaled up replica set web-{digest} from 0 to 3"]
    assert _cond(_deployment(cluster), "Available") == (
        "False",
        "MinimumReplicasUnavailable",
        "Deployment does not have minimum availability.",
    )
    settle(cluster, "web-")
    deployment = _deployment(cluster)
    assert deployment["metadata"]["annotations"][REVISION] == "1"
    assert {k: v for k, v in deployment["status"].items() if k != "conditions"} == {
        "observedGeneration": 1,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
    }
    assert _cond(deployment, "Available") == (
        "True",
        "MinimumReplicasAvailable",
        "Deployment has minimum availability.",
    )
    assert _cond(deployment, "Progressing") == (
        "True",
        "NewReplicaSetAvailable",
        f'ReplicaSet "web-{digest}" has successfully progressed.',
    )


def _invariants(cluster: SimCluster, desired: int, surge: int, unavailable: int) -> None:
    sets = cluster.objects_of("apps", "ReplicaSet", NS)
    assert sum(rs["spec"]["replicas"] for rs in sets) <= desired + surge
    assert sum(1 for p in pods(cluster, "web-") if is_pod_ready(p)) >= desired - unavailable


def test_rolling_update_replaces_pods_within_surge_and_unavailability(cluster: SimCluster) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    cluster.apply(workload("Deployment", "web", replicas=3, strategy=strategy))
    settle(cluster, "web-")
    set_image(cluster, "apps", "Deployment", "web", "nginx:1.28")
    for _ in range(10):
        _invariants(cluster, 3, 1, 0)
        waiting = [p for p in pods(cluster, "web-") if condition(p, "Ready") is None]
        if not waiting:
            break
        ready(cluster, waiting[0])
        cluster.advance(1)
    old, new = _sets_by_revision(cluster)["1"], _sets_by_revision(cluster)["2"]
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (0, 3)
    old_name, new_name = old["metadata"]["name"], new["metadata"]["name"]
    assert _scaling_events(cluster)[1:] == [
        f"Scaled up replica set {new_name} from 0 to 1",
        f"Scaled down replica set {old_name} from 3 to 2",
        f"Scaled up replica set {new_name} from 1 to 2",
        f"Scaled down replica set {old_name} from 2 to 1",
        f"Scaled up replica set {new_name} from 2 to 3",
        f"Scaled down replica set {old_name} from 1 to 0",
    ]
    deployment = _deployment(cluster)
    assert deployment["metadata"]["annotations"][REVISION] == "2"
    assert (deployment["status"]["updatedReplicas"], deployment["status"]["observedGeneration"]) == (3, 2)
    assert _cond(deployment, "Progressing")[1] == "NewReplicaSetAvailable"


def test_undo_reuses_the_old_set_under_a_new_revision(cluster: SimCluster) -> None:
    cluster.apply(workload("Deployment", "web", replicas=2))
    settle(cluster, "web-")
    original = clone(_deployment(cluster)["spec"]["template"])
    set_image(cluster, "apps", "Deployment", "web", "nginx:1.28")
    settle(cluster, "web-")
    first_name = _sets_by_revision(cluster)["1"]["metadata"]["name"]
    patch_spec(cluster, "apps", "Deployment", "web", template=original)  # what `kubectl rollout undo` sends
    settle(cluster, "web-")
    by_revision = _sets_by_revision(cluster)
    assert set(by_revision) == {"2", "3"}
    assert by_revision["3"]["metadata"]["name"] == first_name
    assert by_revision["3"]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert (by_revision["3"]["spec"]["replicas"], by_revision["2"]["spec"]["replicas"]) == (2, 0)
    assert _deployment(cluster)["metadata"]["annotations"][REVISION] == "3"


def test_restart_rolls_out_a_new_set(cluster: SimCluster) -> None:
    cluster.apply(workload("Deployment", "web", replicas=2))
    settle(cluster, "web-")
    restarted = clone(_deployment(cluster)["spec"]["template"])
    restarted["metadata"]["annotations"] = {"kubectl.kubernetes.io/restartedAt": "2024-01-01T00:00:00Z"}
    patch_spec(cluster, "apps", "Deployment", "web", template=restarted)
    settle(cluster, "web-")
    new = _sets_by_revision(cluster)["2"]
    assert new["spec"]["template"]["metadata"]["annotations"] == restarted["metadata"]["annotations"]
    assert [p["metadata"]["ownerReferences"][0]["name"] for p in pods(cluster, "web-")] == [
        new["metadata"]["name"]
    ] * 2


def test_recreate_waits_for_old_pods_to_be_gone(cluster: SimCluster) -> None:
    cluster.apply(workload("Deployment", "web", replicas=2, strategy={"type": "Recreate"}))
    settle(cluster, "web-")
    set_image(cluster, "apps", "Deployment", "web", "nginx:1.28")
    assert list(_sets_by_revision(cluster)) == ["1"]
    assert _sets_by_revision(cluster)["1"]["spec"]["replicas"] == 0
    assert len(cluster.objects_of("", "Pod", NS)) == 2  # still terminating
    remove_terminating(cluster)
    new = _sets_by_revision(cluster)["2"]
    assert new["spec"]["replicas"] == 2
    assert _scaling_events(cluster)[-1] == f"Scaled up replica set {new['metadata']['name']} from 0 to 2"


def test_progress_deadline_exceeded(cluster: SimCluster) -> None:
    cluster.apply(workload("Deployment", "web", replicas=1, progressDeadlineSeconds=60))
    name = cluster.objects_of("apps", "ReplicaSet", NS)[0]["metadata"]["name"]
    assert _cond(_deployment(cluster), "Progressing")[0] == "True"
    cluster.advance(60)
    assert _cond(_deployment(cluster), "Progressing")[0] == "True"
    cluster.advance(1)
    assert _cond(_deployment(cluster), "Progressing") == (
        "False",
        "ProgressDeadlineExceeded",
        f'ReplicaSet "{name}" has timed out progressing.',
    )


def test_paused_deployment_rolls_out_only_when_resumed(cluster: SimCluster) -> None:
    cluster.apply(workload("Deployment", "web", replicas=2))
    settle(cluster, "web-")
    patch_spec(cluster, "apps", "Deployment", "web", paused=True)
    assert _cond(_deployment(cluster), "Progressing") == (
        "Unknown",
        "DeploymentPaused",
        "Deployment is paused",
    )
    set_image(cluster, "apps", "Deployment", "web", "nginx:1.28")
    assert list(_sets_by_revision(cluster)) == ["1"]
    patch_spec(cluster, "apps", "Deployment", "web", paused=False)
    assert set(_sets_by_revision(cluster)) == {"1", "2"}


def test_scaling_during_a_rollout_is_proportional(cluster: SimCluster) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}
    cluster.apply(workload("Deployment", "web", replicas=10, strategy=strategy))
    settle(cluster, "web-")
    set_image(cluster, "apps", "Deployment", "web", "nginx:1.28")
    # Old 10 -> 8 (unavailable 2), which makes room for the new set to surge from 3 to 5.
    assert [_sets_by_revision(cluster)[r]["spec"]["replicas"] for r in ("1", "2")] == [8, 5]
    patch_spec(cluster, "apps", "Deployment", "web", replicas=20)
    # 23 allowed, sized for 13: 8*23/13 -> 14, 5*23/13 -> 9.
    assert [_sets_by_revision(cluster)[r]["spec"]["replicas"] for r in ("1", "2")] == [14, 9]


def test_old_sets_beyond_the_history_limit_are_deleted(cluster: SimCluster) -> None:
    cluster.apply(workload("Deployment", "web", replicas=1, revisionHistoryLimit=1))
    settle(cluster, "web-")
    for image in ("nginx:1.28", "nginx:1.29", "nginx:1.30"):
        set_image(cluster, "apps", "Deployment", "web", image)
        settle(cluster, "web-")
    assert sorted(_sets_by_revision(cluster)) == ["3", "4"]


def test_replica_failure_is_reported_on_the_deployment(cluster: SimCluster) -> None:
    def refuse(resource: ResourceType, obj: JsonObject) -> None:
        if resource.kind == "Pod":
            raise StatusError(403, "Forbidden", 'pods "web-" is forbidden: exceeded quota: pods')

    cluster.objects.admission.append(refuse)
    cluster.apply(workload("Deployment", "web", replicas=1))
    assert _cond(_deployment(cluster), "ReplicaFailure") == (
        "True",
        "FailedCreate",
        'pods "web-" is forbidden: exceeded quota: pods',
    )


def test_a_settled_deployment_writes_nothing(cluster: SimCluster) -> None:
    cluster.apply(workload("Deployment", "web", replicas=2))
    settle(cluster, "web-")
    before = writes(cluster)
    cluster.engine.enqueue(DeploymentController.name, f"{NS}/web")
    cluster.advance(3600)
    assert writes(cluster) == before
