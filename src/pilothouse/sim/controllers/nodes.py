"""Node lifecycle: condition taints, NotReady reporting and NoExecute taint eviction.

Mirrors kube-controller-manager's node-lifecycle-controller and taint-eviction-controller:
a node whose Ready condition is False gets the not-ready taints, Unknown (its kubelet stopped
posting status) the unreachable ones, both NoSchedule and NoExecute; pressure conditions and
cordoning add their NoSchedule taints. When a node stops being Ready its pods are marked
not Ready. Pods that do not tolerate a NoExecute taint are deleted at once, those that do
after their shortest tolerationSeconds (300 by the DefaultTolerationSeconds admission).
A node that is down has no kubelet to finish those deletions, so the pods stay Terminating.
"""

from __future__ import annotations

from collections.abc import Iterable

from pilothouse.sim.controllers.base import ControllerContext, KeyMapper, set_condition
from pilothouse.sim.events import NORMAL, WARNING
from pilothouse.sim.objects import DeleteOptions
from pilothouse.sim.podutil import is_pod_terminal
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import JsonObject, StorageKey, StoreEvent, clone

NODE_COMPONENT = "node-controller"
EVICTION_COMPONENT = "taint-eviction-controller"
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
NO_SCHEDULE, NO_EXECUTE = "NoSchedule", "NoExecute"
# Conditions that add a NoSchedule taint while True (TaintNodesByCondition).
PRESSURE_TAINTS = {"MemoryPressure": "node.kubernetes.io/memory-pressure",
                   "DiskPressure": "node.kubernetes.io/disk-pressure",
                   "PIDPressure": "node.kubernetes.io/pid-pressure",
                   "NetworkUnavailable": "node.kubernetes.io/network-unavailable"}  # fmt: skip
MANAGED_TAINTS = {NOT_READY, UNREACHABLE, UNSCHEDULABLE, *PRESSURE_TAINTS.values()}


def ready_status(node: JsonObject) -> str | None:
    """The Ready condition's status ("True", "False", "Unknown"), or None before the kubelet reports."""
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return str(cond.get("status"))
    return None


def node_is_down(node: JsonObject) -> bool:
    """For the kubelet: a node that reports not Ready runs no kubelet to finish its pods' deletion."""
    status = ready_status(node)
    return status is not None and status != "True"


def tolerates(toleration: JsonObject, taint: JsonObject) -> bool:
    """Toleration.ToleratesTaint."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def toleration_seconds(pod: JsonObject, taints: list[JsonObject]) -> float | None:
    """How long the pod may stay with these NoExecute taints: 0 if one is not tolerated, None if forever."""
    used = []
    for taint in taints:
        match = next((t for t in pod["spec"].get("tolerations") or [] if tolerates(t, taint)), None)
        if match is None:
            return 0.0
        used.append(match)
    limits = [float(t["tolerationSeconds"]) for t in used if t.get("tolerationSeconds") is not None]
    if not limits:
        return None
    return max(0.0, min(limits))


def desired_taint_keys(node: JsonObject) -> set[tuple[str, str]]:
    """(key, effect) of every taint the node's conditions and spec call for."""
    wanted: set[tuple[str, str]] = set()
    ready = ready_status(node)
    if ready in ("False", "Unknown"):
        key = NOT_READY if ready == "False" else UNREACHABLE
        wanted |= {(key, NO_SCHEDULE), (key, NO_EXECUTE)}
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") in PRESSURE_TAINTS and cond.get("status") == "True":
            wanted.add((PRESSURE_TAINTS[cond["type"]], NO_SCHEDULE))
    if (node.get("spec") or {}).get("unschedulable"):
        wanted.add((UNSCHEDULABLE, NO_SCHEDULE))
    return wanted


class NodeLifecycleController:
    name = "node-lifecycle"

    def __init__(self, context: ControllerContext) -> None:
        self.context = context
        self.nodes = context.resource("", "Node")
        self.pods = context.resource("", "Pod")
        self._was_ready: dict[str, bool] = {}
        # node → pod uid → when the taint manager started counting that pod's toleration.
        self._eviction_starts: dict[str, dict[str, float]] = {}
        self._next_timer: dict[str, float] = {}

    def watches(self) -> dict[StorageKey, KeyMapper]:
        def node_key(event: StoreEvent) -> Iterable[str]:
            return (event.object["metadata"]["name"],)

        def node_of_pod(event: StoreEvent) -> Iterable[str]:
            # Only pods on a node that is down, tainted NoExecute or counting evictions concern us.
            node_name = event.object["spec"].get("nodeName")
            node = self.context.store.get(self.nodes.storage_key, "", node_name) if node_name else None
            if node is not None and (
                node_is_down(node) or _no_execute_taints(node) or self._eviction_starts.get(node_name)
            ):
                yield node_name

        return {self.nodes.storage_key: node_key, self.pods.storage_key: node_of_pod}

    def reconcile(self, key: str) -> None:
        node = self.context.store.get(self.nodes.storage_key, "", key)
        if node is None:
            for state in (self._was_ready, self._eviction_starts, self._next_timer):
                state.pop(key, None)
            return
        node = self._sync_taints(node)
        pods = (
            self._pods_on(key)
            if node_is_down(node) or _no_execute_taints(node) or self._eviction_starts.get(key)
            else []
        )
        self._report_readiness(node, pods)
        self._evict(node, pods)

    def _pods_on(self, node_name: str) -> list[JsonObject]:
        return [
            pod
            for pod in self.context.store.list(self.pods.storage_key)
            if pod["spec"].get("nodeName") == node_name and not is_pod_terminal(pod)
        ]

    def _sync_taints(self, node: JsonObject) -> JsonObject:
        wanted = desired_taint_keys(node)
        current = list((node.get("spec") or {}).get("taints") or [])
        kept = [
            t for t in current if t.get("key") not in MANAGED_TAINTS or (t["key"], t.get("effect")) in wanted
        ]
        present = {(t["key"], t.get("effect")) for t in kept}
        now = self.context.objects.now()
        added = [{"key": key, "effect": effect, "timeAdded": now} for key, effect in sorted(wanted - present)]
        if kept == current and not added:
            return node
        updated = clone(node)
        if kept or added:
            updated["spec"]["taints"] = kept + added
        else:
            updated["spec"].pop("taints", None)
        return self.context.objects.save(self.nodes, updated)

    def _report_readiness(self, node: JsonObject, pods: list[JsonObject]) -> None:
        name = node["metadata"]["name"]
        status = ready_status(node)
        if status is None:
            return
        was_ready = self._was_ready.get(name)
        self._was_ready[name] = status == "True"
        if status == "True":
            return
        if was_ready:
            self.context.events.record(
                node,
                NORMAL,
                "NodeNotReady",
                f"Node {name} status is now: NodeNotReady",
                component=NODE_COMPONENT,
            )
        for pod in pods:
            self._mark_not_ready(pod)

    def _mark_not_ready(self, pod: JsonObject) -> None:
        ready = next(
            (c for c in pod.get("status", {}).get("conditions") or [] if c.get("type") == "Ready"), None
        )
        if ready is None or ready.get("status") == "False":
            return
        updated = clone(pod)
        for cond in updated["status"]["conditions"]:
            if cond["type"] == "Ready":
                cond.update(status="False", lastTransitionTime=self.context.objects.now())
        self.context.objects.save(self.pods, updated)
        self.context.events.record(
            pod, WARNING, "NodeNotReady", "Node is not ready", component=NODE_COMPONENT
        )

    # Taint eviction ---------------------------------------------------------------------------------

    def _evict(self, node: JsonObject, pods: list[JsonObject]) -> None:
        name = node["metadata"]["name"]
        taints = _no_execute_taints(node)
        now = self.context.clock.now()
        previous = self._eviction_starts.get(name, {})
        starts: dict[str, float] = {}
        due_times = []
        for pod in pods:
            uid = pod["metadata"]["uid"]
            if pod["metadata"].get("deletionTimestamp"):
                continue
            seconds = toleration_seconds(pod, taints) if taints else None
            if seconds is None:
                if uid in previous:
                    self._eviction_event(pod, "Cancelling deletion of Pod")
                continue
            start = starts[uid] = previous.get(uid, now)
            if now >= start + seconds:
                self._delete(pod)
                del starts[uid]
            else:
                due_times.append(start + seconds)
        self._eviction_starts[name] = starts
        if due_times:
            due = min(due_times)
            scheduled = self._next_timer.get(name)
            if scheduled is None or scheduled <= now or due < scheduled:
                self._next_timer[name] = due
                self.context.engine.call_at(due, self.name, name)

    def _delete(self, pod: JsonObject) -> None:
        self._eviction_event(pod, "Marking for deletion Pod")
        meta = pod["metadata"]
        marked = clone(pod)
        set_condition(
            marked.setdefault("status", {}),
            "DisruptionTarget",
            "True",
            "DeletionByTaintManager",
            "Taint manager: deleting due to NoExecute taint",
            self.context.objects.now(),
        )
        self.context.objects.save(self.pods, marked)
        try:
            self.context.objects.delete(
                self.pods, meta["namespace"], meta["name"], DeleteOptions(precondition_uid=meta["uid"])
            )
        except StatusError as err:
            if err.code not in (404, 409):
                raise

    def _eviction_event(self, pod: JsonObject, action: str) -> None:
        meta = pod["metadata"]
        self.context.events.record(
            pod,
            NORMAL,
            "TaintManagerEviction",
            f"{action} {meta['namespace']}/{meta['name']}",
            component=EVICTION_COMPONENT,
        )


def _no_execute_taints(node: JsonObject) -> list[JsonObject]:
    return [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == NO_EXECUTE]
