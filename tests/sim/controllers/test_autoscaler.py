"""HorizontalPodAutoscaler: the replica calculator, scaling, stabilisation, status and failure events."""

from __future__ import annotations

from typing import Any

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.controllers.autoscaler import (
    HorizontalPodAutoscalerController,
    PodGroups,
    propose_replicas,
)
from pilothouse.sim.controllers.base import condition
from pilothouse.sim.store import JsonObject
from tests.sim.controllers.simkit import START, events, get, make_cluster, pod, run_pod

RESCALE_UP = "cpu resource utilization (percentage of request) above target"


class FakeMetrics:
    """Usage per pod name; pods without an entry have no metrics yet."""

    def __init__(self) -> None:
        self.usage: dict[str, dict[str, float]] = {}

    def pod_usage(self, pod: JsonObject) -> dict[str, float] | None:
        return self.usage.get(pod["metadata"]["name"])

    def set_cpu(self, cores: float, *names: str) -> None:
        for name in names:
            self.usage[name] = {"cpu": cores, "memory": 64 * 2**20}


def hpa(target: str = "web", **spec: Any) -> JsonObject:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": 1,
            "maxReplicas": 10,
            **spec,
        },
    }


def autoscaled(
    replicas: int, cpu_request: str | None = "100m", **hpa_spec: Any
) -> tuple[SimCluster, FakeMetrics]:
    metrics = FakeMetrics()
    cluster = make_cluster(lambda context: HorizontalPodAutoscalerController(context, usage_source=metrics))
    cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "nginx"}]},
                },
            },
        }
    )
    for index in range(replicas):
        cluster.apply(pod(f"web-{index}", requests={"cpu": cpu_request} if cpu_request else None))
        # Ready for a minute already: past the window in which CPU samples are not trusted.
        run_pod(cluster, "default", f"web-{index}", ip=f"10.244.0.{index + 10}", ready_since=START - 60)
    return cluster, metrics


def start(cluster: SimCluster, manifest: JsonObject) -> JsonObject:
    [created] = cluster.apply(manifest)
    return created


def replicas(cluster: SimCluster) -> int:
    return int(get(cluster, "Deployment", "default", "web", group="apps")["spec"]["replicas"])


def hpa_status(cluster: SimCluster) -> JsonObject:
    result: JsonObject = get(cluster, "HorizontalPodAutoscaler", "default", "web", group="autoscaling")[
        "status"
    ]
    return result


def reason_of(cluster: SimCluster, condition_type: str) -> tuple[str, str]:
    found = condition({"status": hpa_status(cluster)}, condition_type)
    assert found is not None, condition_type
    return found["status"], found["reason"]


CPU_50 = [
    {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
    }
]


def test_high_utilization_scales_up_within_the_scale_up_limit() -> None:
    cluster, metrics = autoscaled(2)
    metrics.set_cpu(0.2, "web-0", "web-1")  # 200% of a 100m request

    created = start(cluster, hpa(metrics=CPU_50))

    assert replicas(cluster) == 4  # wants 8, but at most max(2 x 2, 4) at once
    assert ("Normal", "SuccessfulRescale", f"New size: 4; reason: {RESCALE_UP}") in events(cluster, created)
    current = hpa_status(cluster)
    assert (current["currentReplicas"], current["desiredReplicas"]) == (2, 4)
    assert current["currentMetrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "current": {"averageUtilization": 200, "averageValue": "200m"}},
        }
    ]
    assert current["lastScaleTime"]
    assert reason_of(cluster, "AbleToScale") == ("True", "SucceededRescale")
    assert reason_of(cluster, "ScalingActive") == ("True", "ValidMetricFound")
    assert reason_of(cluster, "ScalingLimited") == ("True", "ScaleUpLimit")


def test_change_within_tolerance_keeps_the_size() -> None:
    cluster, metrics = autoscaled(2)
    metrics.set_cpu(0.054, "web-0", "web-1")  # 54% against 50%: ratio 1.08

    created = start(cluster, hpa(metrics=CPU_50))

    assert replicas(cluster) == 2
    assert not [e for e in events(cluster, created) if e[1] == "SuccessfulRescale"]
    assert reason_of(cluster, "AbleToScale") == ("True", "ReadyForNewScale")
    assert reason_of(cluster, "ScalingLimited") == ("False", "DesiredWithinRange")


def test_scale_down_waits_out_the_stabilisation_window() -> None:
    cluster, metrics = autoscaled(4)
    metrics.set_cpu(0.01, "web-0", "web-1", "web-2", "web-3")
    created = start(cluster, hpa(metrics=CPU_50))

    assert replicas(cluster) == 4
    assert reason_of(cluster, "AbleToScale") == ("True", "ScaleDownStabilized")

    cluster.advance(300)
    assert replicas(cluster) == 4

    cluster.advance(15)
    assert replicas(cluster) == 1
    assert ("Normal", "SuccessfulRescale", "New size: 1; reason: All metrics below target") in events(
        cluster, created
    )


def test_load_arriving_later_is_seen_at_the_next_sync() -> None:
    cluster, metrics = autoscaled(2)
    metrics.set_cpu(0.05, "web-0", "web-1")
    start(cluster, hpa(metrics=CPU_50))
    assert replicas(cluster) == 2

    metrics.set_cpu(0.1, "web-0", "web-1")
    cluster.advance(14)
    assert replicas(cluster) == 2
    cluster.advance(1)
    assert replicas(cluster) == 4


def test_average_value_targets_use_raw_usage() -> None:
    cluster, metrics = autoscaled(2)
    for name in ("web-0", "web-1"):
        metrics.usage[name] = {"cpu": 0.01, "memory": 200 * 2**20}
    memory = [
        {
            "type": "Resource",
            "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}},
        }
    ]
    created = start(cluster, hpa(metrics=memory))

    assert replicas(cluster) == 4
    assert ("Normal", "SuccessfulRescale", "New size: 4; reason: memory resource above target") in events(
        cluster, created
    )
    assert hpa_status(cluster)["currentMetrics"][0]["resource"]["current"] == {"averageValue": "209715200"}


def test_behavior_policies_limit_the_rate() -> None:
    cluster, metrics = autoscaled(2)
    metrics.set_cpu(0.2, "web-0", "web-1")
    behavior = {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}

    start(cluster, hpa(metrics=CPU_50, behavior=behavior))
    assert replicas(cluster) == 3
    assert reason_of(cluster, "ScalingLimited") == ("True", "ScaleUpLimit")

    cluster.advance(45)
    assert replicas(cluster) == 3  # one pod per minute
    cluster.advance(15)
    assert replicas(cluster) == 4


def test_missing_target_reports_failed_get_scale() -> None:
    cluster, _ = autoscaled(1)

    created = start(cluster, hpa(target="ghost", metrics=CPU_50))

    assert ("Warning", "FailedGetScale", 'deployments/scale.apps "ghost" not found') in events(
        cluster, created
    )
    able = condition({"status": hpa_status(cluster)}, "AbleToScale")
    assert able is not None
    assert (able["status"], able["reason"], able["message"]) == (
        "False",
        "FailedGetScale",
        "the HPA controller was unable to get the target's current scale: "
        'deployments/scale.apps "ghost" not found',
    )


def test_pods_without_cpu_requests_cannot_be_measured_by_utilization() -> None:
    cluster, metrics = autoscaled(1, cpu_request=None)
    metrics.set_cpu(0.2, "web-0")

    created = start(cluster, hpa(metrics=CPU_50))

    problem = "failed to get cpu utilization: missing request for cpu in container app of Pod web-0"
    assert ("Warning", "FailedGetResourceMetric", problem) in events(cluster, created)
    assert (
        "Warning",
        "FailedComputeMetricsReplicas",
        "invalid metrics (1 invalid out of 1), first error is: "
        f"failed to get cpu resource metric value: {problem}",
    ) in events(cluster, created)
    assert reason_of(cluster, "ScalingActive") == ("False", "FailedGetResourceMetric")
    assert hpa_status(cluster)["currentMetrics"] == [{"type": ""}]
    assert replicas(cluster) == 1


def test_no_metrics_yet_is_reported() -> None:
    cluster, _ = autoscaled(1)

    created = start(cluster, hpa(metrics=CPU_50))

    assert (
        "Warning",
        "FailedGetResourceMetric",
        "failed to get cpu utilization: unable to get metrics for "
        "resource cpu: no metrics returned from resource metrics API",
    ) in events(cluster, created)


def test_replicas_below_minimum_are_raised() -> None:
    cluster, metrics = autoscaled(1)
    metrics.set_cpu(0.05, "web-0")

    created = start(cluster, hpa(metrics=CPU_50, minReplicas=3))

    assert replicas(cluster) == 3
    assert (
        "Normal",
        "SuccessfulRescale",
        "New size: 3; reason: Current number of replicas below Spec.MinReplicas",
    ) in events(cluster, created)


def test_missing_pods_damp_a_scale_up() -> None:
    # Two pods at 150%, a third without metrics: counted as 0% the ratio falls back to 1.0.
    groups = PodGroups(ready_count=2, missing={"c"})
    requests = {"a": 100, "b": 100, "c": 100}

    def ratio(metrics: dict[str, int]) -> float:
        return sum(metrics.values()) / sum(requests[n] for n in metrics)

    assert propose_replicas(3, {"a": 150, "b": 150}, groups, ratio, lambda name: requests[name]) == 3
    assert propose_replicas(2, {"a": 150, "b": 150}, PodGroups(ready_count=2), ratio, lambda name: 0) == 3
