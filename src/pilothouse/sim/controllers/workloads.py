"""What the workload controllers share, after kube-controller-manager's `pkg/controller` package.

Claiming dependents through controller references (ControllerRefManager), creating and deleting
pods with the events RealPodControl records, the order in which surplus pods are deleted
(ActivePodsWithRanks), slow-start batches, ControllerRevision snapshots (StatefulSet and
DaemonSet history), int-or-percent arithmetic and the controllers' timers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pilothouse.sim.controllers.base import ControllerContext, KeyMapper, controller_ref, key_of
from pilothouse.sim.defaults import default_pod_spec
from pilothouse.sim.events import NORMAL, WARNING
from pilothouse.sim.objects import DeleteOptions, parse_time
from pilothouse.sim.podutil import is_pod_ready, template_hash
from pilothouse.sim.resources import ResourceType
from pilothouse.sim.selectors import LabelSelector, SelectorError
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import JsonObject, StoreEvent, clone

# Pods of StatefulSets and DaemonSets carry the revision they were made from under this label.
CONTROLLER_REVISION_HASH = "controller-revision-hash"
# The most pods one sync creates or deletes (the controllers' burstReplicas).
BURST_REPLICAS = 500
_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


class SyncError(Exception):
    """A sync that failed part-way and must be retried with back-off, as a returned error is."""


# Timers ---------------------------------------------------------------------------------------


class Timers:
    """Wake-ups for one controller's work keys.

    A key keeps only its earliest pending timer: a later one is redundant, because the reconcile
    the earlier one triggers schedules whatever is still needed. Failed syncs back off like
    client-go's default rate limiter (5 ms doubling to 1000 s per key).
    """

    FIRST_RETRY, MAX_RETRY = 0.005, 1000.0

    def __init__(self, context: ControllerContext, controller: str) -> None:
        self._context = context
        self._controller = controller
        self._due: dict[str, float] = {}
        self._failures: dict[str, int] = {}

    def at(self, key: str, when: float) -> None:
        now = self._context.clock.now()
        pending = self._due.get(key)
        if pending is not None and now < pending <= when:
            return
        self._due[key] = when
        self._context.engine.call_at(max(when, now), self._controller, key)

    def after(self, key: str, delay: float) -> None:
        self.at(key, self._context.clock.now() + max(0.0, delay))

    def retry(self, key: str) -> None:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        self.after(key, min(self.MAX_RETRY, self.FIRST_RETRY * 2**failures))

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def forget(self, key: str) -> None:
        self._due.pop(key, None)
        self._failures.pop(key, None)


# Base class -----------------------------------------------------------------------------------


class WorkloadController:
    """State and helpers every workload controller has. `name` is also the events' source."""

    name = "workload-controller"

    def __init__(self, context: ControllerContext) -> None:
        self.context = context
        self.objects = context.objects
        self.pods = context.resource("", "Pod")
        self.timers = Timers(context, self.name)

    def event(self, obj: JsonObject, event_type: str, reason: str, message: str) -> None:
        self.context.events.record(obj, event_type, reason, message, component=self.name)

    def now(self) -> float:
        return self.context.clock.now()

    def fresh(self, resource: ResourceType, obj: JsonObject) -> JsonObject | None:
        """The stored version of `obj` now (it may have been rewritten earlier in this sync)."""
        meta = obj["metadata"]
        return self.context.store.get(resource.storage_key, meta.get("namespace", ""), meta["name"])

    def write_status(self, resource: ResourceType, obj: JsonObject, status: JsonObject) -> JsonObject:
        """Store `status` on the current version of `obj`, unless it already has exactly that status."""
        current = self.fresh(resource, obj)
        if current is None or current.get("status") == status:
            return current or obj
        updated = clone(current)
        updated["status"] = status
        return self.objects.save(resource, updated)

    def create_pod(self, owner: JsonObject, pod: JsonObject) -> JsonObject:
        """Create a pod as RealPodControl does: an event either way; raises StatusError on refusal."""
        try:
            created = self.objects.create_owned(self.pods, pod)
        except StatusError as err:
            if not namespace_terminating(err):
                self.event(owner, WARNING, "FailedCreate", f"Error creating: {err.message}")
            raise
        self.event(owner, NORMAL, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
        return created

    def delete_pod(self, owner: JsonObject, pod: JsonObject) -> bool:
        """Delete a pod gracefully as RealPodControl does; False if it was already gone."""
        name = pod["metadata"]["name"]
        try:
            self.objects.delete(self.pods, pod["metadata"]["namespace"], name, DeleteOptions())
        except StatusError as err:
            if err.code == 404:
                return False
            self.event(owner, WARNING, "FailedDelete", f"Error deleting: {err.message}")
            raise SyncError(f"unable to delete pods: {err.message}") from err
        self.event(owner, NORMAL, "SuccessfulDelete", f"Deleted pod: {name}")
        return True


def namespace_terminating(err: StatusError) -> bool:
    causes = (err.details or {}).get("causes") or []
    return any(cause.get("reason") == "NamespaceTerminating" for cause in causes)


# Owners, selectors and claiming -----------------------------------------------------------------


def controller_of(obj: JsonObject) -> JsonObject | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def selector_of(owner: JsonObject) -> LabelSelector:
    """The owner's `spec.selector`; a malformed one selects nothing rather than everything."""
    try:
        return LabelSelector.from_dict((owner.get("spec") or {}).get("selector"))
    except SelectorError:
        return LabelSelector(matches_nothing=True)


def owner_mapper(
    context: ControllerContext,
    owner_resource: ResourceType,
    selector_for: Callable[[JsonObject], LabelSelector] = selector_of,
) -> KeyMapper:
    """Map a dependent's change to the owners that must look at it: its controller before and after
    the change, or, for an orphan, every owner in its namespace whose selector matches it."""
    kind = owner_resource.kind

    def mapper(event: StoreEvent) -> Iterable[str]:
        namespace = event.object["metadata"].get("namespace", "")
        keys: set[str] = set()
        orphan = True
        for version in (event.previous, event.object):
            ref = controller_of(version) if version is not None else None
            if ref is None:
                continue
            orphan = False
            if ref.get("kind") == kind:
                keys.add(f"{namespace}/{ref['name']}")
        if orphan and event.type != "DELETED":
            labels = event.object["metadata"].get("labels")
            keys.update(
                key_of(owner)
                for owner in context.list(owner_resource, namespace)
                if selector_for(owner).matches(labels)
            )
        return sorted(keys)

    return mapper


def claim(
    controller: WorkloadController,
    owner: JsonObject,
    resource: ResourceType,
    candidates: Iterable[JsonObject],
    selector: LabelSelector,
    is_member: Callable[[JsonObject], bool] | None = None,
) -> list[JsonObject]:
    """ControllerRefManager.ClaimObject over `candidates`: keep what `owner` controls and still
    selects, adopt matching orphans, release what it controls but no longer selects."""
    owner_meta = owner["metadata"]
    owner_deleting = bool(owner_meta.get("deletionTimestamp"))
    claimed = []
    for obj in candidates:
        matches = selector.matches(obj["metadata"].get("labels")) and (is_member is None or is_member(obj))
        ref = controller_of(obj)
        if ref is not None:
            if ref.get("uid") != owner_meta["uid"]:
                continue
            if matches:
                claimed.append(obj)
            elif not owner_deleting:
                _set_owner_refs(
                    controller,
                    resource,
                    obj,
                    [r for r in obj["metadata"]["ownerReferences"] if r.get("uid") != owner_meta["uid"]],
                )
            continue
        if owner_deleting or not matches or obj["metadata"].get("deletionTimestamp"):
            continue
        refs = [*(obj["metadata"].get("ownerReferences") or []), controller_ref(owner)]
        claimed.append(_set_owner_refs(controller, resource, obj, refs))
    return claimed


def _set_owner_refs(
    controller: WorkloadController, resource: ResourceType, obj: JsonObject, refs: list[JsonObject]
) -> JsonObject:
    updated = clone(obj)
    if refs:
        updated["metadata"]["ownerReferences"] = refs
    else:
        updated["metadata"].pop("ownerReferences", None)
    return controller.objects.save(resource, updated)


# Pods -------------------------------------------------------------------------------------------


def normalized_template(template: JsonObject) -> JsonObject:
    """A pod template defaulted as the API server stores one, so equal templates compare equal
    however a client spelled them."""
    result = clone(template)
    meta = result.setdefault("metadata", {})
    for field in ("labels", "annotations"):
        if not meta.get(field):
            meta.pop(field, None)
    default_pod_spec(result.setdefault("spec", {}))
    return result


def ready_since(pod: JsonObject) -> float | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "True":
            return parse_time(cond.get("lastTransitionTime"))
    return None


def next_available_at(pods: Iterable[JsonObject], min_ready_seconds: int, now: float) -> float | None:
    """When the next ready pod that is not yet available (minReadySeconds) becomes available."""
    if min_ready_seconds <= 0:
        return None
    times = [
        since + min_ready_seconds
        for pod in pods
        if (since := ready_since(pod)) is not None and since + min_ready_seconds > now
    ]
    return min(times, default=None)


def restart_count(pod: JsonObject) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((int(s.get("restartCount", 0)) for s in statuses), default=0)


def deletion_order(pods: Sequence[JsonObject], ranks: Mapping[str, int] | None = None) -> list[JsonObject]:
    """Pods in the order controllers delete surplus ones (ActivePodsWithRanks): unscheduled, then
    pending before running, not ready before ready, doubled-up nodes first, ready for less time
    first, more restarts first, newer first."""

    def key(pod: JsonObject) -> tuple[Any, ...]:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        ready = is_pod_ready(pod)
        rank = (ranks or {}).get(meta["name"], 0)
        since = (ready_since(pod) or 0.0) if ready else 0.0
        created = parse_time(meta.get("creationTimestamp")) or 0.0
        return (
            1 if spec.get("nodeName") else 0,
            _PHASE_ORDER.get(status.get("phase", ""), 0),
            1 if ready else 0,
            -rank,
            -since,
            -restart_count(pod),
            -created,
            meta["name"],
        )

    return sorted(pods, key=key)


def node_ranks(pods: Iterable[JsonObject], related: Iterable[JsonObject]) -> dict[str, int]:
    """For each pod, how many related pods share its node (getPodsRankedByRelatedPodsOnSameNode)."""
    per_node: dict[str, int] = {}
    for pod in related:
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            per_node[node] = per_node.get(node, 0) + 1
    return {
        pod["metadata"]["name"]: per_node.get((pod.get("spec") or {}).get("nodeName") or "", 0)
        for pod in pods
    }


def slow_start_batch(count: int, create: Callable[[int], object]) -> tuple[int, StatusError | None]:
    """Call `create(i)` for `count` items in batches of 1, 2, 4, ..., stopping after a batch in which
    a creation was refused (a real controller sends one batch concurrently, so the rest of that
    batch is still attempted). Returns how many succeeded and the first refusal."""
    done = succeeded = 0
    batch = min(count, 1)
    first_error: StatusError | None = None
    while done < count:
        for _ in range(batch):
            try:
                create(done)
                succeeded += 1
            except StatusError as err:
                first_error = first_error or err
            done += 1
        if first_error is not None:
            break
        batch = min(2 * batch, count - done)
    return succeeded, first_error


# Arithmetic ------------------------------------------------------------------------------------


def scaled_value(value: int | str | None, total: int, *, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as is, "N%" of `total` rounded up or down."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError(
            f"invalid value for IntOrString: invalid type: string is not a percentage: {value!r}"
        )
    percent = int(value[:-1])
    return -(-percent * total // 100) if round_up else percent * total // 100


def drop_zeros(status: JsonObject, fields: Iterable[str]) -> JsonObject:
    """Leave out counters that are zero, as Go's `omitempty` does when the API server encodes them."""
    for field in fields:
        if not status.get(field):
            status.pop(field, None)
    return status


def creation_order(obj: JsonObject) -> tuple[float, str]:
    """Oldest first, ties by name (controller.ReplicaSetsByCreationTimestamp and friends)."""
    return (parse_time(obj["metadata"].get("creationTimestamp")) or 0.0, obj["metadata"]["name"])


# Controller revisions ------------------------------------------------------------------------------


def template_patch(template: JsonObject) -> JsonObject:
    """The data of a ControllerRevision: a strategic merge patch that replaces the pod template."""
    return {"spec": {"template": {**normalized_template(template), "$patch": "replace"}}}


def template_of(revision: JsonObject) -> JsonObject:
    template = dict(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return clone(template)


def revision_number(revision: JsonObject) -> int:
    return int(revision.get("revision") or 0)


class Revisions:
    """An owner's ControllerRevisions (controller history), claimed like pods are."""

    def __init__(self, controller: WorkloadController) -> None:
        self.controller = controller
        self.resource = controller.context.resource("apps", "ControllerRevision")

    def owned(self, owner: JsonObject, selector: LabelSelector) -> list[JsonObject]:
        """Claimed revisions, oldest revision first (history.SortControllerRevisions)."""
        candidates = self.controller.context.claim_candidates(owner, self.resource)
        claimed = claim(self.controller, owner, self.resource, candidates, selector)
        return sorted(claimed, key=lambda r: (revision_number(r), *creation_order(r)))

    def create(
        self,
        owner: JsonObject,
        data: JsonObject,
        labels: Mapping[str, str],
        hash_label: str,
        number: int,
        collision_count: int,
    ) -> tuple[JsonObject, int]:
        """Create revision `number`, named `<owner>-<hash>`; a name taken by different data is a
        hash collision: bump the count and try the next hash. Returns the revision and the count."""
        meta = owner["metadata"]
        while True:
            digest = template_hash(data, collision_count)
            name = f"{meta['name']}-{digest}"
            revision: JsonObject = {
                "apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": name, "namespace": meta["namespace"],
                             "labels": {**labels, hash_label: digest},
                             "ownerReferences": [controller_ref(owner)]},
                "data": data, "revision": number,
            }  # fmt: skip
            try:
                return self.controller.objects.create_owned(self.resource, revision), collision_count
            except StatusError as err:
                if err.code != 409:
                    raise SyncError(err.message) from err
                existing = self.controller.context.store.get(
                    self.resource.storage_key, meta["namespace"], name
                )
                if existing is not None and existing.get("data") == data:
                    return existing, collision_count
                collision_count += 1

    def renumber(self, revision: JsonObject, number: int) -> JsonObject:
        """Give an old revision a new number: its template is in use again (a rollback)."""
        updated = clone(revision)
        updated["revision"] = number
        return self.controller.objects.save(self.resource, updated)

    def delete(self, revision: JsonObject) -> None:
        meta = revision["metadata"]
        try:
            self.controller.objects.delete(self.resource, meta["namespace"], meta["name"], DeleteOptions())
        except StatusError as err:
            if err.code != 404:
                raise SyncError(err.message) from err
