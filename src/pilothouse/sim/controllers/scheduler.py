"""The scheduler: binds pending pods to nodes that fit, or says why none does.

Filters mirror kube-scheduler's default plugins (NodeUnschedulable, TaintToleration,
NodeAffinity, NodeResourcesFit, VolumeBinding); the failure message has the real form
"0/3 nodes are available: 3 Insufficient memory. preemption: ...".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from pilothouse.sim.controllers.base import ControllerContext, KeyMapper, key_of, set_condition
from pilothouse.sim.events import NORMAL, WARNING
from pilothouse.sim.podutil import container_requests, is_pod_terminal
from pilothouse.sim.store import JsonObject, StorageKey, StoreEvent, clone
from pilothouse.sim.validation import parse_quantity

COMPONENT = "default-scheduler"
RETRY_SECONDS = 60.0
RESOURCE_NAMES = ("cpu", "memory", "pods")
NOT_HELPFUL = "Preemption is not helpful for scheduling"


class Scheduler:
    name = "scheduler"

    def __init__(self, context: ControllerContext) -> None:
        self.context = context
        self.pods = context.resource("", "Pod")
        self.nodes = context.resource("", "Node")
        self.claims = context.resource("", "PersistentVolumeClaim")
        self.classes = context.resource("storage.k8s.io", "StorageClass")
        self._pending: set[str] = set()
        self._retry_due: dict[str, float] = {}
        # node name → requested totals of the active pods bound to it, kept incrementally.
        self._requested: dict[str, Counter[str]] = {}
        context.store.add_listener(self._account)

    def watches(self) -> dict[StorageKey, KeyMapper]:
        def pending_pod(event: StoreEvent) -> Iterable[str]:
            pod = event.object
            key = key_of(pod)
            if (
                event.type == "DELETED"
                or pod["spec"].get("nodeName")
                or pod["metadata"].get("deletionTimestamp")
            ):
                self._pending.discard(key)
                # Freed capacity may let a waiting pod in.
                return (
                    sorted(self._pending) if event.previous and event.previous["spec"].get("nodeName") else ()
                )
            self._pending.add(key)
            return (key,)

        def all_pending(event: StoreEvent) -> Iterable[str]:
            return sorted(self._pending)

        return {
            self.pods.storage_key: pending_pod,
            self.nodes.storage_key: all_pending,
            self.claims.storage_key: all_pending,
        }

    def _account(self, key: StorageKey, event: StoreEvent) -> None:
        if key != self.pods.storage_key:
            return
        for pod, sign in ((event.previous, -1), (event.object if event.type != "DELETED" else None, 1)):
            if pod is None or not pod["spec"].get("nodeName") or is_pod_terminal(pod):
                continue
            totals = self._requested.setdefault(pod["spec"]["nodeName"], Counter())
            for name, amount in container_requests(pod).items():
                totals[name] += sign * amount
            totals["pods"] += sign

    def reconcile(self, key: str) -> None:
        pod = self.context.get(self.pods, key)
        if pod is None or pod["spec"].get("nodeName") or pod["metadata"].get("deletionTimestamp"):
            self._pending.discard(key)
            return
        if pod["spec"].get("schedulerName", "default-scheduler") != "default-scheduler":
            return
        nodes = self.context.store.list(self.nodes.storage_key)
        volume_problem = self._volume_problem(pod)
        if volume_problem:
            self._fail(
                pod,
                f"0/{len(nodes)} nodes are available: {volume_problem}. preemption: 0/{len(nodes)} "
                f"nodes are available: {len(nodes)} {NOT_HELPFUL}.",
            )
            return
        reasons: Counter[str] = Counter()
        fitting: list[tuple[float, str]] = []
        requests = container_requests(pod)
        resource_only = 0
        for node in nodes:
            reason = self._filter(pod, node, requests)
            if reason is None:
                fitting.append((self._score(node, requests), node["metadata"]["name"]))
            else:
                for part in reason:
                    reasons[part] += 1
                if all(r.startswith("Insufficient") for r in reason):
                    resource_only += 1
        if not fitting:
            detail = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
            total = len(nodes)
            preemption = []
            if resource_only:
                preemption.append(f"{resource_only} No preemption victims found for incoming pod")
            if total - resource_only:
                preemption.append(f"{total - resource_only} {NOT_HELPFUL}")
            message = (
                f"0/{total} nodes are available: {detail}."
                if total
                else "no nodes available to schedule pods"
            )
            if total:
                message += f" preemption: 0/{total} nodes are available: {', '.join(preemption)}."
            self._fail(pod, message)
            return
        fitting.sort()
        self._bind(pod, fitting[0][1])

    def _filter(self, pod: JsonObject, node: JsonObject, requests: dict[str, float]) -> list[str] | None:
        spec = pod["spec"]
        if node["spec"].get("unschedulable") and not _tolerates(
            spec, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
        ):
            return ["node(s) were unschedulable"]
        for taint in node["spec"].get("taints") or []:
            if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(spec, taint):
                return [f"node(s) had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"]
        if not _affinity_matches(spec, node):
            return ["node(s) didn't match Pod's node affinity/selector"]
        allocatable = node.get("status", {}).get("allocatable") or {}
        used = self._requested.get(node["metadata"]["name"], Counter())
        short = []
        for name in sorted(set(requests) | {"pods"}):
            capacity = allocatable.get(name)
            if capacity is None:
                continue
            wanted = requests.get(name, 0.0) if name != "pods" else 1
            if used[name] + wanted > float(parse_quantity(str(capacity))):
                short.append("Too many pods" if name == "pods" else f"Insufficient {name}")
        return short or None

    def _score(self, node: JsonObject, requests: dict[str, float]) -> float:
        """Least allocated first: the fraction of cpu and memory that would be in use."""
        allocatable = node.get("status", {}).get("allocatable") or {}
        used = self._requested.get(node["metadata"]["name"], Counter())
        fractions = []
        for name in ("cpu", "memory"):
            capacity = float(parse_quantity(str(allocatable.get(name, "0")))) or 1.0
            fractions.append((used[name] + requests.get(name, 0.0)) / capacity)
        return sum(fractions) / 2

    def _volume_problem(self, pod: JsonObject) -> str | None:
        namespace = pod["metadata"]["namespace"]
        for volume in pod["spec"].get("volumes") or []:
            claim_ref = volume.get("persistentVolumeClaim")
            if not claim_ref:
                continue
            claim = self.context.store.get(self.claims.storage_key, namespace, claim_ref.get("claimName", ""))
            if claim is None:
                return f'persistentvolumeclaim "{claim_ref.get("claimName")}" not found'
            if claim.get("status", {}).get("phase") == "Bound":
                continue
            class_name = claim["spec"].get("storageClassName")
            storage_class = self.context.store.get(self.classes.storage_key, "", class_name or "")
            if storage_class is None or storage_class.get("volumeBindingMode") != "WaitForFirstConsumer":
                return "pod has unbound immediate PersistentVolumeClaims"
        return None

    def _fail(self, pod: JsonObject, message: str) -> None:
        updated = clone(pod)
        status = updated.setdefault("status", {})
        before = [dict(c) for c in status.get("conditions") or []]
        set_condition(status, "PodScheduled", "False", "Unschedulable", message, self.context.objects.now())
        for cond in status["conditions"]:
            cond.setdefault("lastProbeTime", None)
        if status.get("conditions") != before:
            self.context.objects.save(self.pods, updated)
        self.context.events.record(pod, WARNING, "FailedScheduling", message, component=COMPONENT)
        # One pending retry per pod: every cluster change re-runs the pod anyway, and a timer per
        # attempt would multiply retries (and FailedScheduling counts) with each change.
        key, now = key_of(pod), self.context.clock.now()
        if self._retry_due.get(key, now) <= now:
            self._retry_due[key] = now + RETRY_SECONDS
            self.context.engine.call_later(RETRY_SECONDS, self.name, key)

    def _bind(self, pod: JsonObject, node_name: str) -> None:
        updated = clone(pod)
        updated["spec"]["nodeName"] = node_name
        status = updated.setdefault("status", {})
        set_condition(status, "PodScheduled", "True", "", "", self.context.objects.now())
        for cond in status["conditions"]:
            if cond["type"] == "PodScheduled":
                cond.pop("reason", None)
                cond.pop("message", None)
                cond["lastProbeTime"] = None
        self._pending.discard(key_of(pod))
        saved = self.context.objects.save(self.pods, updated)
        meta = pod["metadata"]
        self.context.events.record(
            saved,
            NORMAL,
            "Scheduled",
            f"Successfully assigned {meta['namespace']}/{meta['name']} to {node_name}",
            component=COMPONENT,
        )


def _tolerates(spec: JsonObject, taint: JsonObject) -> bool:
    for toleration in spec.get("tolerations") or []:
        effect = toleration.get("effect")
        if effect and effect != taint.get("effect"):
            continue
        key = toleration.get("key")
        if toleration.get("operator") == "Exists":
            if not key or key == taint.get("key"):
                return True
        elif key == taint.get("key") and toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def _affinity_matches(spec: JsonObject, node: JsonObject) -> bool:
    labels = node["metadata"].get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if not required:
        return True
    fields = {"metadata.name": node["metadata"]["name"]}
    return any(_term_matches(term, labels, fields) for term in required.get("nodeSelectorTerms") or [])


def _term_matches(term: JsonObject, labels: dict[str, str], fields: dict[str, str]) -> bool:
    expressions = [(e, labels) for e in term.get("matchExpressions") or []]
    expressions += [(e, fields) for e in term.get("matchFields") or []]
    if not expressions:
        return False
    return all(_expression_matches(e, values) for e, values in expressions)


def _expression_matches(expression: dict[str, Any], values: dict[str, str]) -> bool:
    key, operator = expression.get("key", ""), expression.get("operator")
    wanted = expression.get("values") or []
    present = key in values
    if operator == "In":
        return present and values[key] in wanted
    if operator == "NotIn":
        return not present or values[key] not in wanted
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and wanted:
        try:
            actual, bound = int(values[key]), int(wanted[0])
        except ValueError:
            return False
        return actual > bound if operator == "Gt" else actual < bound
    return False
