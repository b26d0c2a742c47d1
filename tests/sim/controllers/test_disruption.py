"""PodDisruptionBudget status from the pods it selects and their controllers' scale."""

from __future__ import annotations

from typing import Any

import pytest

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.controllers.base import condition
from pilothouse.sim.controllers.disruption import DisruptionController, scaled_value
from pilothouse.sim.store import JsonObject
from tests.sim.controllers.simkit import events, get, make_cluster, pod, run_pod

SELECTOR = {"matchLabels": {"app": "web"}}


def budget(**spec: Any) -> JsonObject:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": SELECTOR, **spec},
    }


def controlled_by(owner: JsonObject) -> list[JsonObject]:
    meta = owner["metadata"]
    return [
        {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
        }
    ]


def owned_pod(name: str, owner: JsonObject) -> JsonObject:
    manifest = pod(name)
    manifest["metadata"]["ownerReferences"] = controlled_by(owner)
    return manifest


def deployment_with_pods(cluster: SimCluster, replicas: int, ready: int) -> None:
    """A Deployment → ReplicaSet → pods chain, written by hand (no workload controllers run here)."""
    template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
    }
    [deployment] = cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": SELECTOR, "template": template},
        }
    )
    replica_set = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "web-5d4f8",
            "namespace": "default",
            "ownerReferences": controlled_by(deployment),
        },
        "spec": {"replicas": replicas, "selector": SELECTOR, "template": template},
    }
    [created_set] = cluster.apply(replica_set)
    for index in range(ready):
        cluster.apply(owned_pod(f"web-{index}", created_set))
        run_pod(cluster, "default", f"web-{index}", ip=f"10.244.0.{index + 10}")


def status(cluster: SimCluster) -> JsonObject:
    result: JsonObject = get(cluster, "PodDisruptionBudget", "default", "web", group="policy")["status"]
    return result


def test_integer_min_available_counts_the_selected_pods() -> None:
    cluster = make_cluster(DisruptionController)
    cluster.apply(
        budget(minAvailable=2), pod("web-0"), pod("web-1"), pod("web-2"), pod("db", labels={"app": "db"})
    )
    run_pod(cluster, "default", "web-0", ip="10.244.0.10")
    run_pod(cluster, "default", "web-1", ip="10.244.0.11")
    run_pod(cluster, "default", "web-2", ip="10.244.0.12", ready=False)

    current = status(cluster)
    assert {
        k: current[k] for k in ("expectedPods", "currentHealthy", "desiredHealthy", "disruptionsAllowed")
    } == {"expectedPods": 3, "currentHealthy": 2, "desiredHealthy": 2, "disruptionsAllowed": 0}
    allowed = condition({"status": current}, "DisruptionAllowed")
    assert allowed is not None
    assert (allowed["status"], allowed["reason"]) == ("False", "InsufficientPods")
    assert current["observedGeneration"] == 1

    run_pod(cluster, "default", "web-2", ip="10.244.0.12")

    current = status(cluster)
    assert current["disruptionsAllowed"] == 1
    allowed = condition({"status": current}, "DisruptionAllowed")
    assert allowed is not None
    assert (allowed["status"], allowed["reason"]) == ("True", "SufficientPods")


def test_max_unavailable_uses_the_deployments_scale() -> None:
    cluster = make_cluster(DisruptionController)
    cluster.apply(budget(maxUnavailable="25%"))
    deployment_with_pods(cluster, replicas=5, ready=4)

    current = status(cluster)
    # 25% of 5 rounds up to 2 unavailable: 3 must stay healthy.
    assert (
        current["expectedPods"],
        current["desiredHealthy"],
        current["currentHealthy"],
        current["disruptionsAllowed"],
    ) == (5, 3, 4, 1)


def test_percent_min_available_rounds_up() -> None:
    cluster = make_cluster(DisruptionController)
    cluster.apply(budget(minAvailable="50%"))
    deployment_with_pods(cluster, replicas=3, ready=3)

    assert (status(cluster)["desiredHealthy"], status(cluster)["disruptionsAllowed"]) == (2, 1)


def test_percentages_need_controllers_and_fail_safe_without_one() -> None:
    cluster = make_cluster(DisruptionController)
    [created, _] = cluster.apply(budget(maxUnavailable=1), pod("bare"))
    run_pod(cluster, "default", "bare", ip="10.244.0.10")

    current = status(cluster)
    assert current["disruptionsAllowed"] == 0
    allowed = condition({"status": current}, "DisruptionAllowed")
    assert allowed is not None
    assert (allowed["reason"], allowed["message"]) == ("SyncFailed", 'found no controllers for pod "bare"')
    assert (
        "Warning",
        "CalculateExpectedPodCountFailed",
        'Failed to calculate the number of expected pods: found no controllers for pod "bare"',
    ) in events(cluster, created)


def test_budget_selecting_nothing_reports_no_pods() -> None:
    cluster = make_cluster(DisruptionController)
    [created] = cluster.apply(budget(minAvailable=1))

    assert status(cluster)["expectedPods"] == 0
    assert ("Normal", "NoPods", "No matching pods found") in events(cluster, created)


def test_status_is_written_only_when_it_changes() -> None:
    cluster = make_cluster(DisruptionController)
    cluster.apply(budget(minAvailable=1), pod("web-0"))
    run_pod(cluster, "default", "web-0", ip="10.244.0.10")
    version = get(cluster, "PodDisruptionBudget", "default", "web", group="policy")["metadata"][
        "resourceVersion"
    ]

    run_pod(cluster, "default", "web-0", ip="10.244.0.10")  # same facts, written again

    assert (
        get(cluster, "PodDisruptionBudget", "default", "web", group="policy")["metadata"]["resourceVersion"]
        == version
    )


@pytest.mark.parametrize(
    ("value", "total", "expected"), [(2, 10, 2), ("25%", 5, 2), ("50%", 4, 2), ("1%", 1, 1)]
)
def test_scaled_value_rounds_percentages_up(value: int | str, total: int, expected: int) -> None:
    assert scaled_value(value, total) == expected
