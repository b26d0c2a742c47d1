"""The DaemonSet controller (pkg/controller/daemon): one pod on every node that should run one.

A node should run the daemon pod when it matches the template's nodeSelector and required node
affinity and the pod, with the tolerations the controller adds to every daemon pod, tolerates
its NoSchedule and NoExecute taints; a pod already there keeps running unless a NoExecute taint
is not tolerated. Pods are pinned to their node by a required node affinity on `metadata.name`
and bound by the scheduler. Templates are snapshotted in ControllerRevisions; RollingUpdate
replaces old pods node by node within maxUnavailable (maxSurge is not simulated).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pilothouse.sim.controllers.base import ControllerContext, KeyMapper, controller_ref, key_of, own_key
from pilothouse.sim.controllers.workloads import (
    BURST_REPLICAS,
    CONTROLLER_REVISION_HASH,
    Revisions,
    SyncError,
    WorkloadController,
    claim,
    creation_order,
    drop_zeros,
    next_available_at,
    normalized_template,
    owner_mapper,
    revision_number,
    scaled_value,
    selector_of,
    slow_start_batch,
    template_patch,
)
from pilothouse.sim.events import WARNING
from pilothouse.sim.podutil import is_pod_available, is_pod_ready, pod_from_template
from pilothouse.sim.selectors import Operator, Requirement, SelectorError
from pilothouse.sim.store import JsonObject, StorageKey, StoreEvent, clone

TEMPLATE_GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
NODE_NAME_FIELD = "metadata.name"
# The daemon controller's own burst is half the ReplicaSet's.
DAEMON_BURST = BURST_REPLICAS // 2
# Failed daemon pods are replaced with back-off per node (flowcontrol.Backoff): 1 s doubling to 15 min.
FAILED_POD_BACKOFF, FAILED_POD_BACKOFF_MAX = 1.0, 900.0

# What util.AddOrUpdateDaemonPodTolerations gives every daemon pod: it survives node problems and
# is not kept off nodes under pressure or cordoned.
DAEMON_TOLERATIONS: tuple[JsonObject, ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
HOST_NETWORK_TOLERATION: JsonObject = {
    "key": "node.kubernetes.io/network-unavailable", "operator": "Exists", "effect": "NoSchedule",
}  # fmt: skip
_NODE_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
    "Gt": Operator.GREATER_THAN,
    "Lt": Operator.LESS_THAN,
}
_OPTIONAL_COUNTERS = ("observedGeneration", "updatedNumberScheduled", "numberAvailable", "numberUnavailable")


# Node eligibility ----------------------------------------------------------------------------------


def with_daemon_tolerations(spec: JsonObject) -> list[JsonObject]:
    """The pod spec's tolerations with the daemon ones added or replacing equal-keyed ones."""
    tolerations = [dict(t) for t in spec.get("tolerations") or []]
    extra = [*DAEMON_TOLERATIONS, HOST_NETWORK_TOLERATION] if spec.get("hostNetwork") else DAEMON_TOLERATIONS
    for wanted in extra:
        same = [i for i, t in enumerate(tolerations) if _same_toleration(t, wanted)]
        if same:
            tolerations[same[0]] = dict(wanted)
        else:
            tolerations.append(dict(wanted))
    return tolerations


def _same_toleration(a: JsonObject, b: JsonObject) -> bool:
    return all((a.get(k) or "") == (b.get(k) or "") for k in ("key", "operator", "value", "effect"))


def tolerates(tolerations: Iterable[JsonObject], taint: JsonObject) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if toleration.get("key") and toleration["key"] != taint.get("key"):
            continue
        operator = toleration.get("operator") or "Equal"
        if operator == "Exists" or (
            operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")
        ):
            return True
    return False


def node_matches(spec: JsonObject, node: JsonObject) -> bool:
    """nodeSelector and required node affinity (terms ORed, each term's requirements ANDed)."""
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))  # fmt: skip
    if required is None:
        return True
    fields = {NODE_NAME_FIELD: node["metadata"]["name"]}
    return any(_term_matches(term, labels, fields) for term in required.get("nodeSelectorTerms") or [])


def _term_matches(term: JsonObject, labels: Mapping[str, str], fields: Mapping[str, str]) -> bool:
    checks = [(e, labels) for e in term.get("matchExpressions") or []]
    checks += [(e, fields) for e in term.get("matchFields") or []]
    try:
        requirements = [
            (
                Requirement.create(
                    str(e.get("key", "")),
                    _NODE_OPERATORS[e.get("operator", "")],
                    [str(v) for v in e.get("values") or []],
                ),
                values,
            )
            for e, values in checks
        ]
    except (KeyError, SelectorError):
        return False  # an unparsable term matches nothing, as in nodeaffinity
    return bool(requirements) and all(requirement.matches(values) for requirement, values in requirements)


@dataclass(frozen=True)
class Eligibility:
    should_run: bool
    keep_running: bool


def node_should_run(node: JsonObject, pod_spec: JsonObject) -> Eligibility:
    """NodeShouldRunDaemonPod for a daemon pod spec (tolerations already added)."""
    pinned = pod_spec.get("nodeName")
    if (pinned and pinned != node["metadata"]["name"]) or not node_matches(pod_spec, node):
        return Eligibility(False, False)
    tolerations = pod_spec.get("tolerations") or []
    untolerated = [t for t in (node.get("spec") or {}).get("taints") or [] if not tolerates(tolerations, t)]
    if any(t.get("effect") in ("NoSchedule", "NoExecute") for t in untolerated):
        return Eligibility(False, not any(t.get("effect") == "NoExecute" for t in untolerated))
    return Eligibility(True, True)


def target_node(pod: JsonObject) -> str | None:
    """The node a daemon pod is for: where it runs, or where its node affinity pins it."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})  # fmt: skip
    for term in required.get("nodeSelectorTerms") or []:
        for field_requirement in term.get("matchFields") or []:
            values = field_requirement.get("values") or []
            if field_requirement.get("key") == NODE_NAME_FIELD and field_requirement.get("operator") == "In":
                return str(values[0]) if len(values) == 1 else None
    return None


def pinned_affinity(affinity: JsonObject | None, node_name: str) -> JsonObject:
    """ReplaceDaemonSetPodNodeNameNodeAffinity: the required node terms become "this node only"."""
    result = clone(affinity or {})
    node_affinity = result.setdefault("nodeAffinity", {})
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    required["nodeSelectorTerms"] = [
        {"matchFields": [{"key": NODE_NAME_FIELD, "operator": "In", "values": [node_name]}]}
    ]
    return result


# The controller -----------------------------------------------------------------------------------


@dataclass
class _FailedPodBackoff:
    """Per DaemonSet and node: when a failed pod was last replaced, and the current delay."""

    entries: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (delay, last replaced)

    def wait_until(self, key: str, now: float) -> float | None:
        entry = self.entries.get(key)
        if entry is not None and now - entry[1] < entry[0]:
            return entry[1] + entry[0]
        return None

    def record(self, key: str, now: float) -> None:
        entry = self.entries.get(key)
        if entry is None or now - entry[1] > 2 * FAILED_POD_BACKOFF_MAX:
            delay = FAILED_POD_BACKOFF
        else:
            delay = min(entry[0] * 2, FAILED_POD_BACKOFF_MAX)
        self.entries[key] = (delay, now)


class DaemonSetController(WorkloadController):
    name = "daemonset-controller"

    def __init__(self, context: ControllerContext) -> None:
        super().__init__(context)
        self.daemonsets = context.resource("apps", "DaemonSet")
        self.nodes = context.resource("", "Node")
        self.revisions = Revisions(self)
        self._backoff = _FailedPodBackoff()

    def watches(self) -> dict[StorageKey, KeyMapper]:
        return {
            self.daemonsets.storage_key: own_key,
            self.pods.storage_key: owner_mapper(self.context, self.daemonsets),
            self.nodes.storage_key: self._daemonsets_for_node,
        }

    def _daemonsets_for_node(self, event: StoreEvent) -> Iterable[str]:
        """A node added, removed or relabelled/retainted may change where daemons run; its
        status heartbeats do not."""
        if (
            event.previous is not None
            and event.type == "MODIFIED"
            and (_scheduling_facts(event.previous) == _scheduling_facts(event.object))
        ):
            return ()
        return [key_of(ds) for ds in self.context.store.list(self.daemonsets.storage_key)]

    def reconcile(self, key: str) -> None:
        ds = self.context.get(self.daemonsets, key)
        if ds is None:
            self.timers.forget(key)
            return
        if not ds["spec"].get("selector"):
            self.event(
                ds,
                WARNING,
                "SelectingAll",
                "This daemon set is selecting all pods. A non-empty selector is required.",
            )
            return
        if ds["metadata"].get("deletionTimestamp"):
            return  # its history may already be gone: nothing reliable to do or report
        try:
            current, olds, collisions = self._history(ds)
        except SyncError:
            self.timers.retry(key)
            return
        digest = current["metadata"]["labels"][CONTROLLER_REVISION_HASH]
        template = daemon_template(ds, digest)
        nodes = self.context.store.list(self.nodes.storage_key)
        eligible = {node["metadata"]["name"]: node_should_run(node, template["spec"]) for node in nodes}
        try:
            candidates = self.context.claim_candidates(ds, self.pods)
            pods = claim(self, ds, self.pods, candidates, selector_of(ds))
            # Like a controller whose creations and deletions are not yet observed, roll only
            # when this sync had nothing to create or delete.
            if not self._manage(ds, template, eligible, pods) and _rolling(ds):
                self._rolling_update(ds, template, eligible, pods, digest)
            self._cleanup_history(ds, olds)
        except SyncError:
            self.timers.retry(key)
        else:
            self.timers.succeeded(key)
        pods = self.context.owned(ds, self.pods)
        self.write_status(self.daemonsets, ds, self._status(ds, eligible, pods, digest, collisions))
        available_at = next_available_at(pods, int(ds["spec"].get("minReadySeconds", 0)), self.now())
        if available_at is not None:
            self.timers.at(key, available_at)

    # History ------------------------------------------------------------------------------------

    def _history(self, ds: JsonObject) -> tuple[JsonObject, list[JsonObject], int]:
        """constructHistory: the revision of the current template (created, or renumbered to be the
        newest) and the old revisions."""
        revisions = self.revisions.owned(ds, selector_of(ds))
        data = template_patch(ds["spec"]["template"])
        matching = [r for r in revisions if r.get("data") == data]
        olds = [r for r in revisions if r.get("data") != data]
        number = max((revision_number(r) for r in olds), default=0) + 1
        collisions = int((ds.get("status") or {}).get("collisionCount", 0))
        if not matching:
            labels = (ds["spec"]["template"].get("metadata") or {}).get("labels") or {}
            current, collisions = self.revisions.create(
                ds, data, labels, CONTROLLER_REVISION_HASH, number, collisions
            )
            return current, olds, collisions
        current = self._dedup(ds, matching)
        if revision_number(current) < number:
            current = self.revisions.renumber(current, number)
        return current, olds, collisions

    def _dedup(self, ds: JsonObject, matching: list[JsonObject]) -> JsonObject:
        """Several revisions of the same template: keep the newest, move pods over to its hash."""
        keep, duplicates = matching[-1], matching[:-1]
        kept_hash = keep["metadata"]["labels"][CONTROLLER_REVISION_HASH]
        stale = {r["metadata"]["labels"].get(CONTROLLER_REVISION_HASH) for r in duplicates}
        for pod in self.context.owned(ds, self.pods):
            if (pod["metadata"].get("labels") or {}).get(CONTROLLER_REVISION_HASH) in stale:
                updated = clone(pod)
                updated["metadata"]["labels"][CONTROLLER_REVISION_HASH] = kept_hash
                self.objects.save(self.pods, updated)
        for duplicate in duplicates:
            self.revisions.delete(duplicate)
        return keep

    def _cleanup_history(self, ds: JsonObject, olds: list[JsonObject]) -> None:
        """Delete the oldest old revisions beyond revisionHistoryLimit that no pod still carries."""
        surplus = len(olds) - int(ds["spec"].get("revisionHistoryLimit", 10))
        live = {
            (pod["metadata"].get("labels") or {}).get(CONTROLLER_REVISION_HASH)
            for pod in self.context.owned(ds, self.pods)
        }
        for revision in olds:
            if surplus <= 0:
                return
            if revision["metadata"]["labels"].get(CONTROLLER_REVISION_HASH) not in live:
                self.revisions.delete(revision)
                surplus -= 1

    # Pods ------------------------------------------------------------------------------------------

    def _manage(
        self,
        ds: JsonObject,
        template: JsonObject,
        eligible: Mapping[str, Eligibility],
        pods: list[JsonObject],
    ) -> bool:
        """Create missing daemon pods, delete misplaced, failed and surplus ones; True if it did."""
        by_node = pods_by_node(pods)
        to_create: list[str] = []
        to_delete: list[JsonObject] = []
        for node_name, eligibility in eligible.items():
            node_pods = by_node.get(node_name, [])
            if eligibility.should_run and not node_pods:
                to_create.append(node_name)
            elif eligibility.keep_running:
                to_delete += self._replaceable(ds, node_name, node_pods)
            else:
                to_delete += [pod for pod in node_pods if not pod["metadata"].get("deletionTimestamp")]
        # Unscheduled pods pinned to nodes that are gone would wait forever.
        for node_name, node_pods in by_node.items():
            if node_name not in eligible:
                to_delete += [pod for pod in node_pods if not pod["spec"].get("nodeName")]
        return self._sync_nodes(ds, template, to_create, to_delete)

    def _replaceable(self, ds: JsonObject, node_name: str, node_pods: list[JsonObject]) -> list[JsonObject]:
        """On a node that keeps its daemon: failed pods (with back-off), succeeded ones, and all but
        the oldest of several running ones."""
        running, doomed = [], []
        now = self.now()
        for pod in node_pods:
            if pod["metadata"].get("deletionTimestamp"):
                continue
            phase = (pod.get("status") or {}).get("phase")
            if phase == "Failed":
                backoff_key = f"{ds['metadata']['uid']}/{node_name}"
                wait_until = self._backoff.wait_until(backoff_key, now)
                if wait_until is not None:
                    self.timers.at(key_of(ds), wait_until)
                    continue
                self._backoff.record(backoff_key, now)
                meta = pod["metadata"]
                self.event(
                    ds,
                    WARNING,
                    "FailedDaemonPod",
                    f"Found failed daemon pod {meta['namespace']}/"
                    f"{meta['name']} on node {node_name}, will try to kill it",
                )
                doomed.append(pod)
            elif phase == "Succeeded":
                doomed.append(pod)
            else:
                running.append(pod)
        return doomed + by_schedule_and_age(running)[1:]

    def _sync_nodes(
        self, ds: JsonObject, template: JsonObject, to_create: Sequence[str], to_delete: Sequence[JsonObject]
    ) -> bool:
        creating, deleting = list(to_create[:DAEMON_BURST]), list(to_delete[:DAEMON_BURST])
        _, error = slow_start_batch(
            len(creating), lambda index: self._create_on(ds, template, creating[index])
        )
        for pod in deleting:
            self.delete_pod(ds, pod)
        if error is not None:
            raise SyncError(error.message)
        return bool(creating or deleting)

    def _create_on(self, ds: JsonObject, template: JsonObject, node_name: str) -> JsonObject:
        meta = ds["metadata"]
        pod = pod_from_template(
            template,
            generate_name=f"{meta['name']}-",
            namespace=meta["namespace"],
            owner_ref=controller_ref(ds),
        )
        pod["spec"]["affinity"] = pinned_affinity(pod["spec"].get("affinity"), node_name)
        return self.create_pod(ds, pod)

    def _rolling_update(
        self,
        ds: JsonObject,
        template: JsonObject,
        eligible: Mapping[str, Eligibility],
        pods: list[JsonObject],
        digest: str,
    ) -> None:
        """Replace old pods: unavailable ones at once, available ones while fewer than
        maxUnavailable daemon pods are unavailable."""
        desired = sum(1 for e in eligible.values() if e.should_run)
        rolling = (ds["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}
        max_unavailable = scaled_value(rolling.get("maxUnavailable", 1), desired, round_up=True)
        if max_unavailable == 0 and scaled_value(rolling.get("maxSurge", 0), desired, round_up=True) == 0:
            max_unavailable = 1
        min_ready, now = int(ds["spec"].get("minReadySeconds", 0)), self.now()
        unavailable = 0
        replace_now: list[JsonObject] = []
        candidates: list[JsonObject] = []
        for _, node_pods in sorted(pods_by_node(pods).items()):
            found = _new_and_old_on_node(node_pods, digest)
            if found is None or (found[0] is None) == (found[1] is None):
                unavailable += 1  # the manage loop still has work on this node
                continue
            new, old = found
            if new is not None:
                unavailable += 0 if is_pod_available(new, min_ready, now) else 1
            elif old is not None and not is_pod_available(old, min_ready, now):
                replace_now.append(old)
                unavailable += 1
            elif old is not None and unavailable < max_unavailable:
                candidates.append(old)
        allowed = max(0, min(max_unavailable - unavailable, len(candidates)))
        self._sync_nodes(ds, template, [], replace_now + candidates[:allowed])

    def _status(
        self,
        ds: JsonObject,
        eligible: Mapping[str, Eligibility],
        pods: list[JsonObject],
        digest: str,
        collisions: int,
    ) -> JsonObject:
        by_node = pods_by_node(pods)
        min_ready, now = int(ds["spec"].get("minReadySeconds", 0)), self.now()
        desired = scheduled = misscheduled = ready = available = updated = 0
        for node_name, eligibility in eligible.items():
            node_pods = by_node.get(node_name, [])
            if not eligibility.should_run:
                misscheduled += 1 if node_pods else 0
                continue
            desired += 1
            if not node_pods:
                continue
            scheduled += 1
            pod = by_schedule_and_age(node_pods)[0]
            if is_pod_ready(pod):
                ready += 1
                available += 1 if is_pod_available(pod, min_ready, now) else 0
            updated += 1 if _is_updated(pod, digest) else 0
        status: JsonObject = {
            "currentNumberScheduled": scheduled, "numberMisscheduled": misscheduled,
            "desiredNumberScheduled": desired, "numberReady": ready,
            "observedGeneration": ds["metadata"].get("generation", 1), "updatedNumberScheduled": updated,
            "numberAvailable": available, "numberUnavailable": desired - available,
        }  # fmt: skip
        old_status = ds.get("status") or {}
        if collisions or "collisionCount" in old_status:
            status["collisionCount"] = collisions
        if old_status.get("conditions"):
            status["conditions"] = old_status["conditions"]
        return drop_zeros(status, _OPTIONAL_COUNTERS)


def daemon_template(ds: JsonObject, digest: str) -> JsonObject:
    """CreatePodTemplate: the DaemonSet's template with daemon tolerations and revision labels."""
    template = normalized_template(ds["spec"]["template"])
    template["spec"]["tolerations"] = with_daemon_tolerations(template["spec"])
    annotations = ds["metadata"].get("annotations") or {}
    generation = annotations.get(TEMPLATE_GENERATION_ANNOTATION) or str(ds["metadata"].get("generation", 1))
    labels = template["metadata"].setdefault("labels", {})
    labels.update({TEMPLATE_GENERATION_LABEL: generation, CONTROLLER_REVISION_HASH: digest})
    return template


def pods_by_node(pods: Iterable[JsonObject]) -> dict[str, list[JsonObject]]:
    """Daemon pods by the node they are for; finished pods already being deleted are left out."""
    result: dict[str, list[JsonObject]] = {}
    for pod in pods:
        finished = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        if finished and pod["metadata"].get("deletionTimestamp"):
            continue
        node = target_node(pod)
        if node is not None:
            result.setdefault(node, []).append(pod)
    return result


def by_schedule_and_age(pods: Iterable[JsonObject]) -> list[JsonObject]:
    """podByCreationTimestampAndPhase: scheduled pods first, then oldest first."""
    return sorted(pods, key=lambda pod: (0 if pod["spec"].get("nodeName") else 1, *creation_order(pod)))


def _new_and_old_on_node(
    pods: Iterable[JsonObject], digest: str
) -> tuple[JsonObject | None, JsonObject | None] | None:
    """findUpdatedPodsOnNode: the node's updated and outdated pod; None if it has two of either."""
    new = old = None
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        if _is_updated(pod, digest):
            if new is not None:
                return None
            new = pod
        else:
            if old is not None:
                return None
            old = pod
    return new, old


def _is_updated(pod: JsonObject, digest: str) -> bool:
    return bool((pod["metadata"].get("labels") or {}).get(CONTROLLER_REVISION_HASH) == digest)


def _rolling(ds: JsonObject) -> bool:
    return bool((ds["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate")


def _scheduling_facts(node: JsonObject) -> tuple[object, ...]:
    return (node["metadata"].get("labels"), (node.get("spec") or {}).get("taints"))
