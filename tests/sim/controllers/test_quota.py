"""ResourceQuota usage, status and the admission check's real 403 messages."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.controllers.quota import Amount, ResourceQuotaController
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import JsonObject, clone
from tests.sim.controllers.simkit import get, make_cluster, pod, run_pod


def quota(name: str = "compute", **hard: str) -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"hard": hard},
    }


def limited_pod(name: str, memory: str = "1Gi") -> JsonObject:
    return pod(name, requests={"cpu": "250m", "memory": memory}, limits={"cpu": "500m", "memory": memory})


def quota_status(cluster: SimCluster, name: str = "compute") -> JsonObject:
    result: JsonObject = get(cluster, "ResourceQuota", "default", name)["status"]
    return result


def test_status_reports_hard_and_used_in_canonical_quantities() -> None:
    cluster = make_cluster(ResourceQuotaController)
    cluster.apply(
        quota(
            **{
                "pods": "10",
                "requests.cpu": "2",
                "limits.memory": "3072Mi",
                "configmaps": "5",
                "count/deployments.apps": "2",
                "services": "4",
            }
        )
    )
    cluster.apply(
        limited_pod("web-0"),
        limited_pod("web-1", memory="512Mi"),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "default"}},
    )

    # `default` also holds the API server's own `kubernetes` service.
    assert quota_status(cluster) == {
        "hard": {
            "pods": "10",
            "requests.cpu": "2",
            "limits.memory": "3Gi",
            "configmaps": "5",
            "count/deployments.apps": "2",
            "services": "4",
        },
        "used": {
            "pods": "2",
            "requests.cpu": "500m",
            "limits.memory": "1536Mi",
            "configmaps": "1",
            "count/deployments.apps": "0",
            "services": "1",
        },
    }


def test_create_over_quota_is_refused_with_the_real_message() -> None:
    cluster = make_cluster(ResourceQuotaController)
    cluster.apply(quota(**{"limits.memory": "3Gi"}))
    cluster.apply(limited_pod("web-0"), limited_pod("web-1"), limited_pod("web-2"))

    with pytest.raises(StatusError) as refused:
        cluster.apply(limited_pod("web-3"))

    assert refused.value.code == 403
    assert refused.value.message == (
        'pods "web-3" is forbidden: exceeded quota: compute, requested: '
        "limits.memory=1Gi, used: limits.memory=3Gi, limited: limits.memory=3Gi"
    )


def test_several_exceeded_resources_are_listed_sorted() -> None:
    cluster = make_cluster(ResourceQuotaController)
    cluster.apply(quota(**{"pods": "1", "requests.cpu": "300m"}), limited_pod("web-0"))

    with pytest.raises(
        StatusError,
        match=r"requested: pods=1,requests.cpu=250m, used: pods=1,requests.cpu=250m, "
        r"limited: pods=1,requests.cpu=300m$",
    ):
        cluster.apply(limited_pod("web-1"))


def test_pods_must_declare_what_a_quota_tracks() -> None:
    cluster = make_cluster(ResourceQuotaController)
    cluster.apply(quota(**{"limits.memory": "3Gi", "requests.cpu": "2"}))

    with pytest.raises(StatusError) as refused:
        cluster.apply(pod("web-0", requests={"cpu": "100m"}))

    assert refused.value.message == (
        'pods "web-0" is forbidden: failed quota: compute: must specify limits.memory for: app'
    )


def test_counted_objects_other_than_pods_are_limited_too() -> None:
    cluster = make_cluster(ResourceQuotaController)
    cluster.apply(
        quota("objects", configmaps="1"),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"}},
    )

    with pytest.raises(
        StatusError,
        match=r'^configmaps "b" is forbidden: exceeded quota: objects, requested: '
        r"configmaps=1, used: configmaps=1, limited: configmaps=1$",
    ):
        cluster.apply(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "default"}}
        )


def test_finished_pods_stop_counting() -> None:
    cluster = make_cluster(ResourceQuotaController)
    cluster.apply(quota(pods="2"), limited_pod("web-0"), limited_pod("web-1"))
    assert quota_status(cluster)["used"] == {"pods": "2"}

    run_pod(cluster, "default", "web-0", ip=None, phase="Succeeded")

    assert quota_status(cluster)["used"] == {"pods": "1"}
    cluster.apply(limited_pod("web-2"))


def test_scoped_quota_only_counts_matching_pods() -> None:
    cluster = make_cluster(ResourceQuotaController)
    scoped = quota("best-effort", pods="1")
    scoped["spec"]["scopes"] = ["BestEffort"]
    cluster.apply(scoped, pod("plain"), limited_pod("sized"))

    assert quota_status(cluster, "best-effort")["used"] == {"pods": "1"}
    with pytest.raises(StatusError, match="exceeded quota: best-effort"):
        cluster.apply(pod("plain-2"))


def test_status_is_not_rewritten_for_changes_that_use_nothing_new() -> None:
    cluster = make_cluster(ResourceQuotaController)
    cluster.apply(quota(pods="5"), limited_pod("web-0"))
    version = get(cluster, "ResourceQuota", "default", "compute")["metadata"]["resourceVersion"]

    labelled = clone(get(cluster, "Pod", "default", "web-0"))
    labelled["metadata"]["labels"]["tier"] = "front"
    cluster.objects.save(cluster.resource("", "Pod"), labelled)
    cluster.engine.drain()

    assert get(cluster, "ResourceQuota", "default", "compute")["metadata"]["resourceVersion"] == version


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (["1Gi", "512Mi"], "1536Mi"),
        (["500m", "1"], "1500m"),
        (["250m", "750m"], "1"),
        (["0", "1Gi"], "1Gi"),
        (["1000"], "1k"),
        (["2Gi"], "2Gi"),
        (["1.5Gi"], "1536Mi"),
        (["100Mi", "1"], "104857601"),
    ],
)
def test_amounts_add_and_print_like_quantities(parts: list[str], expected: str) -> None:
    total = Amount(Decimal(0))
    for part in parts:
        total = total + Amount.parse(part)
    assert str(total) == expected
