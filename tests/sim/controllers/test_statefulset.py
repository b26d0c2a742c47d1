"""StatefulSet controller: ordered creation, claims, scale down, revisions and partitioned rolling updates."""

from __future__ import annotations

import pytest

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.controllers.statefulset import StatefulSetController
from pilothouse.sim.store import JsonObject
from tests.sim.controllers.simkit import events, get, make_cluster
from tests.sim.controllers.workloadkit import (
    NS,
    finish,
    names,
    patch_spec,
    pods,
    ready,
    remove_terminating,
    set_image,
    settle,
    workload,
    writes,
)

CLAIMS = [
    {
        "metadata": {"name": "www"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
]


@pytest.fixture
def cluster() -> SimCluster:
    return make_cluster(StatefulSetController)


def _sts(cluster: SimCluster) -> JsonObject:
    return get(cluster, "StatefulSet", NS, "web", "apps")


def _revision(pod: JsonObject) -> str:
    return str(pod["metadata"]["labels"]["controller-revision-hash"])


def test_ordered_ready_creates_one_pod_at_a_time_with_its_claim(cluster: SimCluster) -> None:
    cluster.apply(workload("StatefulSet", "web", replicas=3, serviceName="web", volumeClaimTemplates=CLAIMS))
    assert names(pods(cluster, "web-")) == ["web-0"]
    claim = get(cluster, "PersistentVolumeClaim", NS, "www-web-0")
    assert claim["metadata"]["labels"] == {"app": "web"}
    web0 = pods(cluster, "web-")[0]
    labels = web0["metadata"]["labels"]
    assert labels["statefulset.kubernetes.io/pod-name"] == "web-0"
    assert labels["apps.kubernetes.io/pod-index"] == "0"
    assert (web0["spec"]["hostname"], web0["spec"]["subdomain"]) == ("web-0", "web")
    assert web0["spec"]["volumes"][0] == {"name": "www", "persistentVolumeClaim": {"claimName": "www-web-0"}}
    ready(cluster, web0, is_ready=False)
    assert names(pods(cluster, "web-")) == ["web-0"]  # running but not ready: web-1 waits
    settle(cluster, "web-")
    assert names(pods(cluster, "web-")) == ["web-0", "web-1", "web-2"]
    assert [m for _, r, m in events(cluster, _sts(cluster)) if r == "SuccessfulCreate"][:3] == [
        "create Claim www-web-0 Pod web-0 in StatefulSet web success",
        "create Pod web-0 in StatefulSet web successful",
        "create Claim www-web-1 Pod web-1 in StatefulSet web success",
    ]
    status = _sts(cluster)["status"]
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (3, 3, 3)
    assert status["currentRevision"] == status["updateRevision"] == _revision(pods(cluster, "web-")[0])


def test_parallel_creates_all_at_once(cluster: SimCluster) -> None:
    cluster.apply(workload("StatefulSet", "web", replicas=3, podManagementPolicy="Parallel"))
    assert names(pods(cluster, "web-")) == ["web-0", "web-1", "web-2"]


def test_scale_down_removes_the_highest_ordinal_first_one_at_a_time(cluster: SimCluster) -> None:
    cluster.apply(workload("StatefulSet", "web", replicas=3))
    settle(cluster, "web-")
    patch_spec(cluster, "apps", "StatefulSet", "web", replicas=1)
    assert names(pods(cluster, "web-")) == ["web-0", "web-1"]  # web-2 is terminating
    remove_terminating(cluster)
    assert names(pods(cluster, "web-")) == ["web-0"]
    deletions = [m for _, r, m in events(cluster, _sts(cluster)) if r == "SuccessfulDelete"]
    assert deletions == [
        "delete Pod web-2 in StatefulSet web successful",
        "delete Pod web-1 in StatefulSet web successful",
    ]


def test_rolling_update_respects_the_partition(cluster: SimCluster) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}
    cluster.apply(workload("StatefulSet", "web", replicas=3, updateStrategy=strategy))
    settle(cluster, "web-")
    old_revision = _revision(pods(cluster, "web-")[0])
    set_image(cluster, "apps", "StatefulSet", "web", "nginx:1.28")
    update_revision = _sts(cluster)["status"]["updateRevision"]
    assert update_revision != old_revision
    for _ in range(4):
        remove_terminating(cluster)
        settle(cluster, "web-")
    assert [_revision(p) for p in pods(cluster, "web-")] == [old_revision, update_revision, update_revision]
    status = _sts(cluster)["status"]
    assert (status["currentRevision"], status["currentReplicas"], status["updatedReplicas"]) == (
        old_revision,
        1,
        2,
    )
    revisions = {
        r["metadata"]["name"]: r["revision"] for r in cluster.objects_of("apps", "ControllerRevision", NS)
    }
    assert revisions == {old_revision: 1, update_revision: 2}
    assert get(cluster, "Pod", NS, "web-2")["spec"]["containers"][0]["image"] == "nginx:1.28"
    deletions = [m for _, r, m in events(cluster, _sts(cluster)) if r == "SuccessfulDelete"]
    assert deletions == [
        "delete Pod web-2 in StatefulSet web successful",
        "delete Pod web-1 in StatefulSet web successful",
    ]


def test_a_completed_rollout_makes_the_update_revision_current(cluster: SimCluster) -> None:
    cluster.apply(workload("StatefulSet", "web", replicas=2))
    settle(cluster, "web-")
    set_image(cluster, "apps", "StatefulSet", "web", "nginx:1.28")
    for _ in range(3):
        remove_terminating(cluster)
        settle(cluster, "web-")
    status = _sts(cluster)["status"]
    assert status["currentRevision"] == status["updateRevision"]
    assert status["currentReplicas"] == status["updatedReplicas"] == 2


def test_failed_pods_are_recreated(cluster: SimCluster) -> None:
    cluster.apply(workload("StatefulSet", "web", replicas=1))
    finish(cluster, pods(cluster, "web-")[0], succeeded=False)
    (recreated,) = pods(cluster, "web-")
    assert (recreated["metadata"]["name"], recreated["status"]["phase"]) == ("web-0", "Pending")
    assert (
        "Warning",
        "RecreatingFailedPod",
        "StatefulSet default/web is recreating failed Pod web-0",
    ) in events(cluster, _sts(cluster))


def test_claims_follow_the_retention_policy(cluster: SimCluster) -> None:
    policy = {"whenDeleted": "Delete", "whenScaled": "Delete"}
    cluster.apply(
        workload(
            "StatefulSet",
            "web",
            replicas=2,
            volumeClaimTemplates=CLAIMS,
            persistentVolumeClaimRetentionPolicy=policy,
        )
    )
    settle(cluster, "web-")
    owners = get(cluster, "PersistentVolumeClaim", NS, "www-web-1")["metadata"]["ownerReferences"]
    assert [(o["kind"], o["name"]) for o in owners] == [("StatefulSet", "web")]
    patch_spec(cluster, "apps", "StatefulSet", "web", replicas=1)
    owners = get(cluster, "PersistentVolumeClaim", NS, "www-web-1")["metadata"]["ownerReferences"]
    assert [(o["kind"], o["name"]) for o in owners] == [("Pod", "web-1")]


def test_a_settled_set_writes_nothing(cluster: SimCluster) -> None:
    cluster.apply(workload("StatefulSet", "web", replicas=2, volumeClaimTemplates=CLAIMS))
    settle(cluster, "web-")
    before = writes(cluster)
    cluster.engine.enqueue(StatefulSetController.name, f"{NS}/web")
    cluster.advance(3600)
    assert writes(cluster) == before
