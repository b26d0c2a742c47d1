"""PodDisruptionBudget status, computed as kube-controller-manager's disruption controller does.

expectedPods comes from the pods' controllers' scale when the budget is a percentage or a
maxUnavailable (the pods themselves for an integer minAvailable); desiredHealthy follows from
the budget, rounding percentages up; disruptionsAllowed is what the eviction API may take.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pilothouse.sim.controllers.base import ControllerContext, KeyMapper, key_of, set_condition
from pilothouse.sim.events import NORMAL, WARNING
from pilothouse.sim.podutil import is_pod_ready
from pilothouse.sim.selectors import LabelSelector, SelectorError
from pilothouse.sim.store import JsonObject, StorageKey, StoreEvent, clone

COMPONENT = "controllermanager"
SCALED_KINDS = (("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet"),
                ("", "ReplicationController"))  # fmt: skip


class ExpectedScaleError(Exception):
    """A selected pod's controller cannot be found, so the expected count is unknown."""


def scaled_value(value: int | str, total: int) -> int:
    """intstr.GetScaledValueFromIntOrPercent with rounding up."""
    if isinstance(value, int):
        return value
    return math.ceil(int(value.rstrip("%")) * total / 100)


class DisruptionController:
    name = "disruption"

    def __init__(self, context: ControllerContext) -> None:
        self.context = context
        self.budgets = context.resource("policy", "PodDisruptionBudget")
        self.pods = context.resource("", "Pod")
        self._scaled = [r for r in (context.registry.by_kind(g, k) for g, k in SCALED_KINDS) if r is not None]

    def watches(self) -> dict[StorageKey, KeyMapper]:
        def spec_changed(event: StoreEvent) -> Iterable[str]:
            # Our own status writes need no second look.
            if event.previous is None or event.previous.get("spec") != event.object.get("spec"):
                yield key_of(event.object)

        def budgets_selecting(event: StoreEvent) -> Iterable[str]:
            meta = event.object["metadata"]
            label_sets = [meta.get("labels")]
            if event.previous is not None:
                label_sets.append(event.previous["metadata"].get("labels"))
            for budget in self.context.store.list(self.budgets.storage_key, meta["namespace"]):
                selector = _selector(budget)
                if selector is not None and any(selector.matches(labels) for labels in label_sets):
                    yield key_of(budget)

        def budgets_in_namespace(event: StoreEvent) -> Iterable[str]:
            # A controller's scale feeds expectedPods of any budget over its pods.
            if event.previous is None or event.previous.get("spec") != event.object.get("spec"):
                for budget in self.context.store.list(
                    self.budgets.storage_key, event.object["metadata"]["namespace"]
                ):
                    yield key_of(budget)

        watches: dict[StorageKey, KeyMapper] = {
            self.budgets.storage_key: spec_changed,
            self.pods.storage_key: budgets_selecting,
        }
        for resource in self._scaled:
            watches[resource.storage_key] = budgets_in_namespace
        return watches

    def reconcile(self, key: str) -> None:
        budget = self.context.get(self.budgets, key)
        if budget is None:
            return
        selector = _selector(budget)
        pods = (
            []
            if selector is None
            else self.context.list(self.pods, budget["metadata"]["namespace"], selector)
        )
        if not pods:
            self.context.events.record(
                budget, NORMAL, "NoPods", "No matching pods found", component=COMPONENT
            )
        try:
            expected, desired = self._expected_and_desired(budget, pods)
        except ExpectedScaleError as err:
            message = f"Failed to calculate the number of expected pods: {err}"
            self.context.events.record(
                budget, WARNING, "CalculateExpectedPodCountFailed", message, component=COMPONENT
            )
            # Fail safe: keep the last counts, allow no disruption.
            self._write_status(budget, {"disruptionsAllowed": 0}, "SyncFailed", str(err))
            return
        healthy = sum(1 for pod in pods if not pod["metadata"].get("deletionTimestamp") and is_pod_ready(pod))
        allowed = max(0, healthy - desired) if expected > 0 else 0
        counts = {
            "expectedPods": expected,
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "disruptionsAllowed": allowed,
            "observedGeneration": budget["metadata"].get("generation", 1),
        }
        self._write_status(budget, counts, "SufficientPods" if allowed > 0 else "InsufficientPods", "")

    def _expected_and_desired(self, budget: JsonObject, pods: list[JsonObject]) -> tuple[int, int]:
        spec = budget["spec"]
        if spec.get("maxUnavailable") is not None:
            expected = self._expected_scale(pods)
            return expected, max(0, expected - scaled_value(spec["maxUnavailable"], expected))
        min_available = spec.get("minAvailable")
        if isinstance(min_available, int):
            return len(pods), min_available
        if isinstance(min_available, str):
            expected = self._expected_scale(pods)
            return expected, scaled_value(min_available, expected)
        return 0, 0

    def _expected_scale(self, pods: list[JsonObject]) -> int:
        """The summed replicas of the distinct controllers of the pods (a Deployment, not its ReplicaSets)."""
        scales: dict[str, int] = {}
        for pod in pods:
            controller = self._top_controller(pod)
            if controller is None:
                raise ExpectedScaleError(f'found no controllers for pod "{pod["metadata"]["name"]}"')
            scales[controller["metadata"]["uid"]] = int((controller.get("spec") or {}).get("replicas", 1))
        return sum(scales.values())

    def _top_controller(self, pod: JsonObject) -> JsonObject | None:
        """The pod's scalable controller; a ReplicaSet run by a Deployment counts as the Deployment."""
        obj = pod
        found: JsonObject | None = None
        while True:
            ref = next((r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
            if ref is None:
                return found
            resource = next(
                (
                    r
                    for r in self._scaled
                    if r.kind == ref.get("kind") and r.api_version == ref.get("apiVersion")
                ),
                None,
            )
            if resource is None:
                return found
            owner = self.context.store.get(
                resource.storage_key, pod["metadata"]["namespace"], ref.get("name", "")
            )
            if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
                return found
            found = obj = owner

    def _write_status(self, budget: JsonObject, counts: dict[str, int], reason: str, message: str) -> None:
        updated = clone(budget)
        status = updated.setdefault("status", {})
        status.update(counts)
        allowed = "True" if status.get("disruptionsAllowed", 0) > 0 else "False"
        set_condition(status, "DisruptionAllowed", allowed, reason, message, self.context.objects.now())
        for cond in status["conditions"]:
            cond["observedGeneration"] = status.get("observedGeneration", 0)
        if status != budget.get("status"):
            self.context.objects.save(self.budgets, updated)


def _selector(budget: JsonObject) -> LabelSelector | None:
    try:
        return LabelSelector.from_dict((budget.get("spec") or {}).get("selector"))
    except SelectorError:
        return None
