"""HorizontalPodAutoscaler (autoscaling/v2), following kube-controller-manager's podautoscaler.

Every 15 simulated seconds each HPA reads its target's scale, the target's pods' usage from a
`PodUsageSource` (the kubelet's metrics) and their requests, and proposes a replica count with
the real replica calculator: a 0.1 tolerance, unready and missing pods treated conservatively,
a scale-up limit, min/max bounds and a 300 s scale-down stabilisation window (or the
spec.behavior windows and rate policies when given). Status, conditions and events use the
real reasons and messages.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pilothouse.sim.controllers.base import ControllerContext, KeyMapper, key_of, set_condition
from pilothouse.sim.events import NORMAL, WARNING
from pilothouse.sim.objects import parse_time
from pilothouse.sim.selectors import LabelSelector, SelectorError
from pilothouse.sim.store import JsonObject, StorageKey, StoreEvent, clone
from pilothouse.sim.validation import canonical_quantity, parse_quantity

COMPONENT = "horizontal-pod-autoscaler"
SYNC_PERIOD = 15.0
TOLERANCE = 0.1
DOWNSCALE_STABILIZATION = 300.0
CPU_INITIALIZATION_PERIOD = 300.0
INITIAL_READINESS_DELAY = 30.0
METRIC_WINDOW = 15.0
SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0
TARGET_KINDS = {("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "ReplicaSet")}
DEFAULT_SCALE_UP = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                    "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                 {"type": "Percent", "value": 100, "periodSeconds": 15}]}  # fmt: skip
DEFAULT_SCALE_DOWN = {"stabilizationWindowSeconds": DOWNSCALE_STABILIZATION, "selectPolicy": "Max",
                      "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}  # fmt: skip

Condition = tuple[str, str, str, str]  # type, status, reason, message
UP_STABILIZED: Condition = (
    "AbleToScale",
    "True",
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
)
DOWN_STABILIZED: Condition = (
    "AbleToScale",
    "True",
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent recommendation",
)


class PodUsageSource(Protocol):
    """Current usage of a pod: {"cpu": cores, "memory": bytes}, or None when no metrics exist yet."""

    def pod_usage(self, pod: JsonObject) -> dict[str, float] | None: ...


class MetricError(Exception):
    """One metric could not be turned into a replica proposal; carries the condition to report."""

    def __init__(self, message: str, condition: Condition | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.condition = condition


class MetricsFailed(Exception):
    """No usable proposal from the metrics; the statuses gathered so far still go into status."""

    def __init__(self, message: str, statuses: list[JsonObject]) -> None:
        super().__init__(message)
        self.message = message
        self.statuses = statuses


# The replica calculator ---------------------------------------------------------------------------


@dataclass
class PodGroups:
    """groupPods: which pods' samples count, and which are unready, missing or ignored."""

    ready_count: int = 0
    unready: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    ignored: set[str] = field(default_factory=set)


def group_pods(pods: list[JsonObject], metrics: dict[str, int], resource: str, now: float) -> PodGroups:
    groups = PodGroups()
    for pod in pods:
        name, status = pod["metadata"]["name"], pod.get("status") or {}
        if pod["metadata"].get("deletionTimestamp") or status.get("phase") == "Failed":
            groups.ignored.add(name)
        elif status.get("phase") == "Pending":
            groups.unready.add(name)
        elif name not in metrics:
            groups.missing.add(name)
        elif resource == "cpu" and _cpu_sample_unready(pod, now):
            groups.unready.add(name)
        else:
            groups.ready_count += 1
    return groups


def _cpu_sample_unready(pod: JsonObject, now: float) -> bool:
    """A CPU sample is not trusted while the pod starts up (its usage then is not representative)."""
    ready = next((c for c in pod["status"].get("conditions") or [] if c.get("type") == "Ready"), None)
    started = parse_time(pod["status"].get("startTime"))
    if ready is None or started is None:
        return True
    transition = parse_time(ready.get("lastTransitionTime")) or started
    if started + CPU_INITIALIZATION_PERIOD > now:
        return ready.get("status") == "False" or now < transition + METRIC_WINDOW
    return ready.get("status") == "False" and started + INITIAL_READINESS_DELAY > transition


def propose_replicas(
    current: int,
    metrics: dict[str, int],
    groups: PodGroups,
    usage_ratio: Callable[[dict[str, int]], float],
    fallback: Callable[[str], int],
) -> int:
    """The replica calculator's core, shared by utilization and average-value targets.

    `metrics` holds the usable samples; missing pods count as `fallback` on a scale-down and as
    zero on a scale-up, unready pods as zero on a scale-up, so neither exaggerates the change.
    """
    ratio = usage_ratio(metrics)
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if abs(1.0 - ratio) <= TOLERANCE:
            return current
        return math.ceil(ratio * groups.ready_count)
    adjusted = dict(metrics)
    if ratio != 1.0:
        for name in groups.missing:
            adjusted[name] = fallback(name) if ratio < 1.0 else 0
    if scale_up_with_unready:
        for name in groups.unready:
            adjusted[name] = 0
    new_ratio = usage_ratio(adjusted)
    if abs(1.0 - new_ratio) <= TOLERANCE or (ratio < 1.0 < new_ratio) or (new_ratio < 1.0 < ratio):
        return current
    proposal = math.ceil(new_ratio * len(adjusted))
    if (new_ratio < 1.0 and proposal > current) or (new_ratio > 1.0 and proposal < current):
        return current
    return proposal


def utilization(metrics: dict[str, int], requests: dict[str, int]) -> tuple[int, int]:
    """(utilization percent, raw average) over the samples of pods with requests."""
    used = [(value, requests[name]) for name, value in metrics.items() if name in requests]
    total_requests = sum(r for _, r in used)
    if total_requests == 0:
        raise MetricError("no metrics returned matched known pods")
    total_usage = sum(v for v, _ in used)
    return total_usage * 100 // total_requests, total_usage // len(used)


def pod_requests(pods: list[JsonObject], resource: str, container: str | None) -> dict[str, int]:
    """calculatePodRequests, in milli-units; every (selected) container must request the resource."""
    requests = {}
    for pod in pods:
        spec = pod.get("spec") or {}
        containers = list(spec.get("containers") or []) + [
            c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"
        ]
        total = 0
        for c in containers:
            if container and c.get("name") != container:
                continue
            value = ((c.get("resources") or {}).get("requests") or {}).get(resource)
            if value is None:
                raise MetricError(
                    f"missing request for {resource} in container {c.get('name')} of Pod "
                    f"{pod['metadata']['name']}"
                )
            total += math.ceil(parse_quantity(str(value)) * 1000)
        requests[pod["metadata"]["name"]] = total
    return requests


def milli_quantity(milli: int) -> str:
    """resource.NewMilliQuantity(milli, DecimalSI).String()."""
    return canonical_quantity(f"{milli}m")


# Normalisation: bounds, stabilisation and rate limits ----------------------------------------------


def convert_with_rules(
    current: int, desired: int, min_replicas: int, max_replicas: int
) -> tuple[int, str, str]:
    """Bounds without spec.behavior: min/max and the 2x-or-4 scale-up limit."""
    scale_up_limit = int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))
    if max_replicas > scale_up_limit:
        maximum, reason, message = (
            scale_up_limit,
            "ScaleUpLimit",
            "the desired replica count is increasing faster than the maximum scale rate",
        )
    else:
        maximum, reason, message = (
            max_replicas,
            "TooManyReplicas",
            "the desired replica count is more than the maximum replica count",
        )
    if desired < min_replicas:
        return (
            min_replicas,
            "TooFewReplicas",
            "the desired replica count is less than the minimum replica count",
        )
    if desired > maximum:
        return maximum, reason, message
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


def with_default_rules(behavior: JsonObject) -> tuple[JsonObject, JsonObject]:
    """spec.behavior's scaleUp and scaleDown with the API defaults filled in."""
    rules = []
    for name, defaults in (("scaleUp", DEFAULT_SCALE_UP), ("scaleDown", DEFAULT_SCALE_DOWN)):
        given = behavior.get(name) or {}
        rules.append(
            {key: given.get(key) if given.get(key) is not None else value for key, value in defaults.items()}
        )
    return rules[0], rules[1]


@dataclass
class ScaleHistory:
    """One HPA's memory: recent recommendations and (with spec.behavior) recent scale events."""

    recommendations: list[tuple[int, float]] = field(default_factory=list)
    scale_ups: list[tuple[int, float]] = field(default_factory=list)
    scale_downs: list[tuple[int, float]] = field(default_factory=list)

    def stabilize(self, desired: int, now: float, window: float) -> int:
        """The highest recommendation of the window (no spec.behavior); records `desired`."""
        cutoff = now - window
        highest = max([desired] + [r for r, at in self.recommendations if at >= cutoff])
        self._record(desired, now, lambda at: at < cutoff)
        return highest

    def stabilize_with_behavior(
        self, current: int, desired: int, now: float, up_window: float, down_window: float
    ) -> int:
        up_cutoff, down_cutoff = now - up_window, now - down_window
        up = min([desired] + [r for r, at in self.recommendations if at > up_cutoff])
        down = max([desired] + [r for r, at in self.recommendations if at > down_cutoff])
        self._record(desired, now, lambda at: at < up_cutoff and at < down_cutoff)
        return min(max(current, up), down)

    def _record(self, desired: int, now: float, is_old: Callable[[float], bool]) -> None:
        # Reuse the slot of one expired sample, as the real controller does, so the list stays short.
        old = next((i for i, (_, at) in enumerate(self.recommendations) if is_old(at)), None)
        if old is None:
            self.recommendations.append((desired, now))
        else:
            self.recommendations[old] = (desired, now)

    def changed_within(self, events: list[tuple[int, float]], period: float, now: float) -> int:
        return sum(change for change, at in events if at > now - period)

    def record_scale(self, before: int, after: int, now: float) -> None:
        if after > before:
            self.scale_ups.append((after - before, now))
        elif after < before:
            self.scale_downs.append((before - after, now))


def rate_limit(current: int, rules: JsonObject, history: ScaleHistory, now: float, up: bool) -> int:
    """calculateScaleUpLimitWithScalingRules / calculateScaleDownLimitWithBehaviors."""
    if rules.get("selectPolicy") == "Disabled":
        return current
    choose_min = (rules.get("selectPolicy") == "Min") == up
    proposals = []
    for policy in rules.get("policies") or []:
        period = float(policy.get("periodSeconds", 15))
        start = (
            current
            - history.changed_within(history.scale_ups, period, now)
            + history.changed_within(history.scale_downs, period, now)
        )
        value = int(policy.get("value", 0))
        if policy.get("type") == "Pods":
            proposals.append(start + value if up else start - value)
        elif up:
            proposals.append(math.ceil(start * (1 + value / 100)))
        else:
            proposals.append(int(start * (1 - value / 100)))
    if not proposals:
        return current
    return min(proposals) if choose_min else max(proposals)


# The controller ---------------------------------------------------------------------------------


class HorizontalPodAutoscalerController:
    name = "horizontal-pod-autoscaler"

    def __init__(self, context: ControllerContext, usage_source: PodUsageSource | None = None) -> None:
        self.context = context
        self.hpas = context.resource("autoscaling", "HorizontalPodAutoscaler")
        self.pods = context.resource("", "Pod")
        # The cluster may hand the kubelet's metrics over on the context instead of as an argument.
        self.usage: PodUsageSource | None = usage_source or getattr(context, "pod_usage_source", None)
        self._history: dict[str, ScaleHistory] = {}
        self._next_sync: dict[str, float] = {}

    def watches(self) -> dict[StorageKey, KeyMapper]:
        def spec_changed(event: StoreEvent) -> list[str]:
            # Only a new or changed spec needs a sync before the next period; not our status writes.
            if (
                event.type == "DELETED"
                or event.previous is None
                or event.previous.get("spec") != event.object.get("spec")
            ):
                return [key_of(event.object)]
            return []

        return {self.hpas.storage_key: spec_changed}

    def reconcile(self, key: str) -> None:
        hpa = self.context.get(self.hpas, key)
        if hpa is None:
            self._history.pop(key, None)
            self._next_sync.pop(key, None)
            return
        now = self.context.clock.now()
        if self._next_sync.get(key, 0.0) <= now:
            self._next_sync[key] = now + SYNC_PERIOD
            self.context.engine.call_later(SYNC_PERIOD, self.name, key)
        updated = clone(hpa)
        status = updated.setdefault("status", {})
        self._sync(key, hpa, status, now)
        if status != hpa.get("status"):
            self.context.objects.save(self.hpas, updated)

    def _event(self, hpa: JsonObject, event_type: str, reason: str, message: str) -> None:
        self.context.events.record(hpa, event_type, reason, message, component=COMPONENT)

    def _condition(self, status: JsonObject, condition: Condition) -> None:
        set_condition(status, *condition, self.context.objects.now())

    def _sync(self, key: str, hpa: JsonObject, status: JsonObject, now: float) -> None:
        spec = hpa["spec"]
        target = self._scale_target(hpa, status)
        if target is None:
            return
        self._condition(
            status,
            (
                "AbleToScale",
                "True",
                "SucceededGetScale",
                "the HPA controller was able to get the target's current scale",
            ),
        )
        current = int(target["spec"].get("replicas", 1))
        history = self._history.setdefault(key, ScaleHistory(recommendations=[(current, now)]))
        min_replicas, max_replicas = int(spec.get("minReplicas", 1)), int(spec["maxReplicas"])
        statuses: list[JsonObject] | None = None
        reason = ""
        if current == 0 and min_replicas != 0:
            desired, rescale = 0, False
            self._condition(
                status,
                (
                    "ScalingActive",
                    "False",
                    "ScalingDisabled",
                    "scaling is disabled since the replica count of the target is zero",
                ),
            )
        elif current > max_replicas:
            desired, rescale, reason = max_replicas, True, "Current number of replicas above Spec.MaxReplicas"
        elif current < min_replicas:
            desired, rescale, reason = min_replicas, True, "Current number of replicas below Spec.MinReplicas"
        else:
            try:
                proposal, metric, statuses = self._replicas_for_metrics(hpa, status, target, current, now)
            except MetricsFailed as failed:
                self._set_counts(status, current, status.get("desiredReplicas", 0), failed.statuses)
                self._event(hpa, WARNING, "FailedComputeMetricsReplicas", failed.message)
                return
            desired = max(proposal, 0)
            if desired > current:
                reason = f"{metric} above target"
            elif desired < current:
                reason = "All metrics below target"
            desired = self._normalize(hpa, status, history, current, desired, min_replicas, now)
            rescale = desired != current
        if rescale:
            scaled = clone(target)
            scaled["spec"]["replicas"] = desired
            self.context.objects.save(self.context.resource(*_group_kind(hpa)), scaled)
            self._condition(
                status,
                (
                    "AbleToScale",
                    "True",
                    "SucceededRescale",
                    f"the HPA controller was able to update the target scale to {desired}",
                ),
            )
            self._event(hpa, NORMAL, "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
            if spec.get("behavior") is not None:
                history.record_scale(current, desired, now)
            status["lastScaleTime"] = self.context.objects.now()
        else:
            desired = current
        self._set_counts(status, current, desired, statuses)

    def _set_counts(
        self, status: JsonObject, current: int, desired: int, statuses: list[JsonObject] | None
    ) -> None:
        status.update(currentReplicas=current, desiredReplicas=desired)
        if statuses:
            status["currentMetrics"] = statuses
        else:
            status.pop("currentMetrics", None)

    def _scale_target(self, hpa: JsonObject, status: JsonObject) -> JsonObject | None:
        """The scaled object, or None after reporting FailedGetScale."""
        ref = hpa["spec"].get("scaleTargetRef") or {}
        group, kind = _group_kind(hpa)
        resource = self.context.registry.by_kind(group, kind) if (group, kind) in TARGET_KINDS else None
        if resource is None:
            error = f'no matches for kind "{kind}" in group "{group}"'
        else:
            target = self.context.store.get(
                resource.storage_key, hpa["metadata"]["namespace"], ref.get("name", "")
            )
            if target is not None:
                return target
            error = f'{resource.plural}/scale.{resource.group} "{ref.get("name", "")}" not found'
        self._event(hpa, WARNING, "FailedGetScale", error)
        self._condition(
            status,
            (
                "AbleToScale",
                "False",
                "FailedGetScale",
                f"the HPA controller was unable to get the target's current scale: {error}",
            ),
        )
        return None

    # Metrics ------------------------------------------------------------------------------------

    def _replicas_for_metrics(
        self, hpa: JsonObject, status: JsonObject, target: JsonObject, current: int, now: float
    ) -> tuple[int, str, list[JsonObject]]:
        try:
            selector = LabelSelector.from_dict(target["spec"].get("selector"))
        except SelectorError:
            selector = LabelSelector(matches_nothing=True)
        pods = self.context.list(self.pods, hpa["metadata"]["namespace"], selector)
        specs = hpa["spec"].get("metrics") or []
        statuses: list[JsonObject] = []
        replicas, metric = 0, ""
        errors: list[MetricError] = []
        for metric_spec in specs:
            try:
                proposal, name, metric_status = self._replicas_for_metric(
                    hpa, metric_spec, current, pods, now
                )
            except MetricError as err:
                errors.append(err)
                statuses.append({"type": ""})
                continue
            statuses.append(metric_status)
            if replicas == 0 or proposal > replicas:
                replicas, metric = proposal, name
        if errors and (len(errors) >= len(specs) or replicas < current):
            if errors[0].condition is not None:
                self._condition(status, errors[0].condition)
            raise MetricsFailed(
                f"invalid metrics ({len(errors)} invalid out of {len(specs)}), first error is: "
                f"{errors[0].message}",
                statuses,
            )
        self._condition(
            status,
            (
                "ScalingActive",
                "True",
                "ValidMetricFound",
                f"the HPA was able to successfully calculate a replica count from {metric}",
            ),
        )
        return replicas, metric, statuses

    def _replicas_for_metric(
        self, hpa: JsonObject, metric_spec: JsonObject, current: int, pods: list[JsonObject], now: float
    ) -> tuple[int, str, JsonObject]:
        metric_type = metric_spec.get("type", "")
        if metric_type not in ("Resource", "ContainerResource"):
            raise self._unsupported_metric(hpa, metric_spec)
        is_container = metric_type == "ContainerResource"
        source = metric_spec.get("containerResource" if is_container else "resource") or {}
        resource, container = str(source.get("name", "")), source.get("container") if is_container else None
        reason = "FailedGetContainerResourceMetric" if is_container else "FailedGetResourceMetric"
        try:
            proposal, name, current_value = self._resource_proposal(
                source, resource, container, current, pods, now
            )
        except MetricError as err:
            self._event(hpa, WARNING, reason, err.message)
            condition = (
                "ScalingActive",
                "False",
                reason,
                f"the HPA was unable to compute the replica count: {err}",
            )
            kind = "container" if is_container else "resource"
            raise MetricError(f"failed to get {resource} {kind} metric value: {err}", condition) from None
        if is_container:
            return (
                proposal,
                name,
                {
                    "type": metric_type,
                    "containerResource": {"name": resource, "container": container, "current": current_value},
                },
            )
        return proposal, name, {"type": metric_type, "resource": {"name": resource, "current": current_value}}

    def _resource_proposal(
        self,
        source: JsonObject,
        resource: str,
        container: str | None,
        current: int,
        pods: list[JsonObject],
        now: float,
    ) -> tuple[int, str, JsonObject]:
        target = source.get("target") or {}
        if target.get("averageValue") is not None:
            target_milli = math.ceil(parse_quantity(str(target["averageValue"])) * 1000)
            try:
                metrics, groups = self._samples(resource, pods, now)
                proposal = propose_replicas(
                    current, metrics, groups, lambda m: _average(m) / target_milli, lambda _name: target_milli
                )
            except MetricError as err:
                raise MetricError(f"failed to get {resource} usage: {err}") from None
            return proposal, f"{resource} resource", {"averageValue": milli_quantity(_average(metrics))}
        if target.get("averageUtilization") is None:
            raise MetricError(
                "invalid resource metric source: neither an average utilization target nor an "
                "average value (usage) target was set"
            )
        target_percent = int(target["averageUtilization"])
        try:
            metrics, groups = self._samples(resource, pods, now)
            requests = pod_requests(pods, resource, container)
            percent, raw = utilization(metrics, requests)
            fallback_percent = max(100, target_percent)
            proposal = propose_replicas(
                current,
                metrics,
                groups,
                lambda m: utilization(m, requests)[0] / target_percent,
                lambda name: requests[name] * fallback_percent // 100,
            )
        except MetricError as err:
            raise MetricError(f"failed to get {resource} utilization: {err}") from None
        kind = "container resource" if container else "resource"
        return (
            proposal,
            f"{resource} {kind} utilization (percentage of request)",
            {"averageUtilization": percent, "averageValue": milli_quantity(raw)},
        )

    def _samples(self, resource: str, pods: list[JsonObject], now: float) -> tuple[dict[str, int], PodGroups]:
        """Usable samples in milli-units, after setting aside unready and ignored pods."""
        metrics: dict[str, int] = {}
        for pod in pods:
            usage = self.usage.pod_usage(pod) if self.usage is not None else None
            if usage is not None and resource in usage:
                metrics[pod["metadata"]["name"]] = round(usage[resource] * 1000)
        if not metrics:
            raise MetricError(
                f"unable to get metrics for resource {resource}: no metrics returned from resource "
                "metrics API"
            )
        if not pods:
            raise MetricError("no pods returned by selector while calculating replica count")
        groups = group_pods(pods, metrics, resource, now)
        for name in groups.unready | groups.ignored:
            metrics.pop(name, None)
        if not metrics:
            raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
        return metrics, groups

    def _unsupported_metric(self, hpa: JsonObject, metric_spec: JsonObject) -> MetricError:
        """Pods, Object and External metrics need a custom metrics API the simulation does not serve."""
        metric_type = str(metric_spec.get("type", ""))
        source: dict[str, Any] = metric_spec.get(metric_type[:1].lower() + metric_type[1:]) or {}
        name = (source.get("metric") or {}).get("name", "")
        api = "external" if metric_type == "External" else "custom"
        prefix = "external " if api == "external" else ""
        error = f"unable to get {prefix}metric {name}: no metrics returned from {api} metrics API"
        reason = f"FailedGet{metric_type}Metric"
        self._event(hpa, WARNING, reason, error)
        condition = (
            "ScalingActive",
            "False",
            reason,
            f"the HPA was unable to compute the replica count: {error}",
        )
        return MetricError(f"failed to get {metric_type.lower()} metric value: {error}", condition)

    # Normalisation --------------------------------------------------------------------------------

    def _normalize(
        self,
        hpa: JsonObject,
        status: JsonObject,
        history: ScaleHistory,
        current: int,
        desired: int,
        min_replicas: int,
        now: float,
    ) -> int:
        max_replicas = int(hpa["spec"]["maxReplicas"])
        behavior = hpa["spec"].get("behavior")
        if behavior is None:
            stabilized = history.stabilize(desired, now, DOWNSCALE_STABILIZATION)
            if stabilized != desired:
                self._condition(status, DOWN_STABILIZED)
            final, limit_reason, message = convert_with_rules(current, stabilized, min_replicas, max_replicas)
        else:
            up, down = with_default_rules(behavior)
            stabilized = history.stabilize_with_behavior(
                current,
                desired,
                now,
                float(up["stabilizationWindowSeconds"]),
                float(down["stabilizationWindowSeconds"]),
            )
            if stabilized != desired:
                self._condition(status, UP_STABILIZED if desired >= current else DOWN_STABILIZED)
            final, limit_reason, message = self._behavior_bounds(
                current, stabilized, min_replicas, max_replicas, up, down, history, now
            )
        if stabilized == desired:
            self._condition(
                status, ("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size")
            )
        limited = "False" if final == stabilized else "True"
        self._condition(status, ("ScalingLimited", limited, limit_reason, message))
        return final

    def _behavior_bounds(
        self,
        current: int,
        desired: int,
        min_replicas: int,
        max_replicas: int,
        up: JsonObject,
        down: JsonObject,
        history: ScaleHistory,
        now: float,
    ) -> tuple[int, str, str]:
        """convertDesiredReplicasWithBehaviorRate."""
        if desired > current:
            limit = max(rate_limit(current, up, history, now, up=True), current)
            if max_replicas > limit:
                maximum, reason, message = (
                    limit,
                    "ScaleUpLimit",
                    "the desired replica count is increasing faster than the maximum scale rate",
                )
            else:
                maximum, reason, message = (
                    max_replicas,
                    "TooManyReplicas",
                    "the desired replica count is more than the maximum replica count",
                )
            if desired > maximum:
                return maximum, reason, message
        elif desired < current:
            limit = min(rate_limit(current, down, history, now, up=False), current)
            if min_replicas < limit:
                minimum, reason, message = (
                    limit,
                    "ScaleDownLimit",
                    "the desired replica count is decreasing faster than the maximum scale rate",
                )
            else:
                minimum, reason, message = (
                    min_replicas,
                    "TooFewReplicas",
                    "the desired replica count is less than the minimum replica count",
                )
            if desired < minimum:
                return minimum, reason, message
        return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


def _average(metrics: dict[str, int]) -> int:
    return sum(metrics.values()) // len(metrics)


def _group_kind(hpa: JsonObject) -> tuple[str, str]:
    ref = hpa["spec"].get("scaleTargetRef") or {}
    return str(ref.get("apiVersion", "")).rpartition("/")[0], str(ref.get("kind", ""))
