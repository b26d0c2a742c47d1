"""The Deployment controller (pkg/controller/deployment): rolls pod templates out through ReplicaSets.

Each distinct pod template gets a ReplicaSet `<deployment>-<pod-template-hash>`; the one whose
template equals the Deployment's is the new one, all others are old. RollingUpdate grows the new
set within maxSurge and shrinks old ones within maxUnavailable; Recreate scales old sets to zero
and waits for their pods to go before creating the new set. A template equal to an old set's
(`kubectl rollout undo`) makes that set new again under the next revision number. The
arithmetic is in pure functions at the top; the controller applies their results.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pilothouse.sim.controllers.base import (
    ControllerContext,
    KeyMapper,
    condition,
    controller_ref,
    key_of,
    own_key,
)
from pilothouse.sim.controllers.workloads import (
    SyncError,
    WorkloadController,
    claim,
    controller_of,
    creation_order,
    drop_zeros,
    normalized_template,
    owner_mapper,
    scaled_value,
    selector_of,
)
from pilothouse.sim.events import NORMAL, WARNING
from pilothouse.sim.objects import DeleteOptions, parse_time
from pilothouse.sim.podutil import is_pod_terminal, template_hash
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import JsonObject, StorageKey, StoreEvent, clone

POD_TEMPLATE_HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# Deployment annotations that are not copied onto its ReplicaSets.
_NOT_COPIED = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        "deprecated.deployment.rollback.to",
    }
)
MAX_REVISION_HISTORY_CHARS = 2000
NO_DEADLINE = 2**31 - 1  # progressDeadlineSeconds of MaxInt32 means "never time out"

AVAILABLE, PROGRESSING, REPLICA_FAILURE = "Available", "Progressing", "ReplicaFailure"
NEW_RS_CREATED, FOUND_NEW_RS, RS_UPDATED = "NewReplicaSetCreated", "FoundNewReplicaSet", "ReplicaSetUpdated"
NEW_RS_AVAILABLE, TIMED_OUT, RS_CREATE_ERROR = (
    "NewReplicaSetAvailable",
    "ProgressDeadlineExceeded",
    "ReplicaSetCreateError",
)
PAUSED, RESUMED = "DeploymentPaused", "DeploymentResumed"
_COUNTERS = (
    "observedGeneration",
    "replicas",
    "updatedReplicas",
    "readyReplicas",
    "availableReplicas",
    "unavailableReplicas",
)


# Rollout arithmetic -------------------------------------------------------------------------------


def resolve_fenceposts(
    max_surge: int | str | None, max_unavailable: int | str | None, desired: int
) -> tuple[int, int]:
    """maxSurge rounds up, maxUnavailable down; both zero would deadlock, so unavailable becomes 1."""
    surge = scaled_value(max_surge, desired, round_up=True)
    unavailable = scaled_value(max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


@dataclass(frozen=True)
class SetSize:
    """What the rolling update needs to know of one ReplicaSet."""

    replicas: int  # spec.replicas
    available: int = 0  # status.availableReplicas


@dataclass(frozen=True)
class RollingStep:
    """One sync of the RollingUpdate strategy: the new set's size and the old sets' sizes after
    removing unavailable replicas, then after scaling down available ones (oldest first)."""

    new_replicas: int
    old_after_cleanup: list[int]
    old_after_scale_down: list[int]


def rolling_step(
    desired: int, surge: int, unavailable: int, new: SetSize, olds: Sequence[SetSize]
) -> RollingStep:
    """rolloutRolling's decisions. Growing the new set (or shrinking it to `desired`) ends the step;
    old sets shrink only when it cannot grow: first by their unavailable replicas, as far as that
    does not take the deployment below `desired - unavailable`, then by available ones."""
    sizes = [old.replicas for old in olds]
    if new.replicas > desired:
        return RollingStep(desired, sizes, sizes)
    total = new.replicas + sum(sizes)
    if new.replicas < desired:
        grown = new.replicas + max(0, min(desired + surge - total, desired - new.replicas))
        if grown != new.replicas:
            return RollingStep(grown, sizes, sizes)
    min_available = desired - unavailable
    budget = total - min_available - (new.replicas - new.available)
    if sum(sizes) == 0 or budget <= 0:
        return RollingStep(new.replicas, sizes, sizes)
    cleaned = _shrink(sizes, [max(0, old.replicas - old.available) for old in olds], budget)
    available = new.available + sum(old.available for old in olds)
    scaled = _shrink(cleaned, cleaned, available - min_available)
    return RollingStep(new.replicas, cleaned, scaled)


def _shrink(sizes: Sequence[int], removable: Sequence[int], budget: int) -> list[int]:
    """Take up to `budget` replicas off the sets in order, at most `removable[i]` from set i."""
    result, removed = list(sizes), 0
    for index, limit in enumerate(removable):
        take = min(limit, result[index], budget - removed)
        if take > 0:
            result[index] -= take
            removed += take
    return result


@dataclass(frozen=True)
class ScalableSet:
    """An active ReplicaSet as proportional scaling sees it."""

    name: str
    replicas: int
    # The max-replicas annotation: the deployment's size plus surge when this set was last scaled.
    max_replicas: int | None
    created: tuple[float, str]


def proportional_sizes(
    sets: Sequence[ScalableSet], desired: int, surge: int, status_replicas: int
) -> list[tuple[str, int]]:
    """Distribute a change of the deployment's size over its active sets during a rollout, in
    proportion to their sizes, larger sets first (ties: newer first when growing, older first when
    shrinking); rounding leftovers go to the first. Returns (name, new size) in that order."""
    active = [s for s in sets if s.replicas > 0]
    allowed = desired + surge if desired > 0 else 0
    to_add = allowed - sum(s.replicas for s in active)
    ordered = sorted(active, key=lambda s: s.created, reverse=to_add > 0)
    ordered.sort(key=lambda s: -s.replicas)
    if to_add == 0 or not ordered:
        return [(s.name, s.replicas) for s in ordered]
    sizes: list[int] = []
    added = 0
    for s in ordered:
        share = _proportion(s, desired, surge, status_replicas, to_add, added)
        sizes.append(s.replicas + share)
        added += share
    sizes[0] = max(0, sizes[0] + to_add - added)
    return [(s.name, size) for s, size in zip(ordered, sizes, strict=True)]


def _proportion(
    s: ScalableSet, desired: int, surge: int, status_replicas: int, to_add: int, added: int
) -> int:
    if to_add == added:
        return 0
    allowed = to_add - added
    if desired == 0:
        fraction = -s.replicas
    else:
        before = s.max_replicas or status_replicas or desired
        # Round half away from zero, in integers: both operands are positive.
        fraction = (2 * s.replicas * (desired + surge) + before) // (2 * before) - s.replicas
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


# Deployment facts ---------------------------------------------------------------------------------


def spec_replicas(obj: JsonObject) -> int:
    return int(obj["spec"].get("replicas", 1))


def _status_count(obj: JsonObject | None, field: str) -> int:
    return int(((obj or {}).get("status") or {}).get(field, 0))


def rollout_limits(deployment: JsonObject) -> tuple[int, int]:
    """MaxSurge and MaxUnavailable: zero for Recreate; unavailable never above the replicas."""
    strategy = deployment["spec"].get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    desired = spec_replicas(deployment)
    surge, unavailable = resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"), desired)
    return surge, 0 if desired == 0 else min(unavailable, desired)


def progress_deadline(deployment: JsonObject) -> int | None:
    seconds = deployment["spec"].get("progressDeadlineSeconds")
    return None if seconds is None or seconds == NO_DEADLINE else int(seconds)


def revision_of(rs: JsonObject | None) -> int:
    text = ((rs or {}).get("metadata", {}).get("annotations") or {}).get(REVISION, "")
    return int(text) if text.isdigit() else 0


def _int_annotation(rs: JsonObject, name: str) -> int | None:
    text = (rs["metadata"].get("annotations") or {}).get(name, "")
    return int(text) if text.isdigit() else None


def set_deployment_condition(
    status: JsonObject, cond_type: str, value: str, reason: str, message: str, now: str
) -> None:
    put_condition(
        status,
        {
            "type": cond_type,
            "status": value,
            "lastUpdateTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        },
    )


def put_condition(status: JsonObject, new: JsonObject) -> None:
    """SetDeploymentCondition: same status and reason changes nothing; a changed condition goes last,
    keeping its lastTransitionTime unless its status changed."""
    conditions = status.get("conditions") or []
    current = next((c for c in conditions if c.get("type") == new["type"]), None)
    if (
        current is not None
        and current.get("status") == new["status"]
        and current.get("reason") == new["reason"]
    ):
        return
    if current is not None and current.get("status") == new["status"]:
        new = {**new, "lastTransitionTime": current.get("lastTransitionTime", new["lastTransitionTime"])}
    status["conditions"] = [c for c in conditions if c.get("type") != new["type"]] + [new]


def _remove_condition(status: JsonObject, cond_type: str) -> None:
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != cond_type]
    if not status["conditions"]:
        del status["conditions"]


def deployment_complete(deployment: JsonObject, status: JsonObject) -> bool:
    desired = spec_replicas(deployment)
    return bool(
        status.get("updatedReplicas", 0) == desired
        and status.get("replicas", 0) == desired
        and status.get("availableReplicas", 0) == desired
        and status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 1)
    )


def _progressed(deployment: JsonObject, new: JsonObject) -> bool:
    old = deployment.get("status") or {}
    return bool(
        new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
        or new.get("replicas", 0) - new.get("updatedReplicas", 0)
        < old.get("replicas", 0) - old.get("updatedReplicas", 0)
        or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
        or new.get("availableReplicas", 0) > old.get("availableReplicas", 0)
    )


def _equal_ignoring_hash(template: JsonObject, rs: JsonObject) -> bool:
    other = normalized_template(rs["spec"].get("template") or {})
    labels = other["metadata"].get("labels") or {}
    labels.pop(POD_TEMPLATE_HASH, None)
    if not labels:
        other["metadata"].pop("labels", None)
    return template == other


def set_new_rs_annotations(
    deployment: JsonObject, rs: JsonObject, revision: int, *, exists: bool, max_surge: int
) -> bool:
    """SetNewReplicaSetAnnotations: copy the deployment's annotations, raise the revision (keeping
    the ones it had in revision-history: a rollback), and size annotations for a new set."""
    annotations = rs["metadata"].setdefault("annotations", {})
    changed = False
    for name, value in (deployment["metadata"].get("annotations") or {}).items():
        if name not in _NOT_COPIED and annotations.get(name) != value:
            annotations[name] = value
            changed = True
    old_text = annotations.get(REVISION, "")
    if old_text and not old_text.isdigit():
        return changed
    old = int(old_text or 0)
    if old < revision:
        annotations[REVISION] = str(revision)
        changed = True
        if old_text:
            annotations[REVISION_HISTORY] = _with_history(annotations.get(REVISION_HISTORY, ""), old_text)
    if not exists:
        desired = spec_replicas(deployment)
        changed = _set_size_annotations(rs, desired, desired + max_surge) or changed
    return changed


def _with_history(history: str, revision: str) -> str:
    if not history:
        return revision
    kept = history.split(",")
    # Drop the oldest entries until the list fits in the annotation's budget.
    while kept and len(",".join(kept)) + len(revision) + 1 > MAX_REVISION_HISTORY_CHARS:
        kept.pop(0)
    return ",".join([*kept, revision])


def _set_size_annotations(rs: JsonObject, desired: int, max_replicas: int) -> bool:
    annotations = rs["metadata"].setdefault("annotations", {})
    wanted = {DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(max_replicas)}
    if all(annotations.get(k) == v for k, v in wanted.items()):
        return False
    annotations.update(wanted)
    return True


# The controller -------------------------------------------------------------------------------------


class DeploymentController(WorkloadController):
    name = "deployment-controller"

    def __init__(self, context: ControllerContext) -> None:
        super().__init__(context)
        self.deployments = context.resource("apps", "Deployment")
        self.replicasets = context.resource("apps", "ReplicaSet")

    def watches(self) -> dict[StorageKey, KeyMapper]:
        return {
            self.deployments.storage_key: own_key,
            self.replicasets.storage_key: owner_mapper(self.context, self.deployments),
            self.pods.storage_key: self._deployment_of_deleted_pod,
        }

    def _deployment_of_deleted_pod(self, event: StoreEvent) -> Iterable[str]:
        """Recreate waits for the old pods to be gone, so a pod's removal wakes its Deployment."""
        if event.type != "DELETED":
            return ()
        rs_ref = controller_of(event.object)
        if rs_ref is None or rs_ref.get("kind") != "ReplicaSet":
            return ()
        namespace = event.object["metadata"].get("namespace", "")
        rs = self.context.store.get(self.replicasets.storage_key, namespace, rs_ref["name"])
        owner = controller_of(rs) if rs is not None else None
        if owner is None or owner.get("kind") != "Deployment":
            return ()
        return (f"{namespace}/{owner['name']}",)

    def reconcile(self, key: str) -> None:
        stored = self.context.get(self.deployments, key)
        if stored is None:
            self.timers.forget(key)
            return
        deployment = clone(stored)
        try:
            self._sync(deployment)
        except SyncError:
            self.timers.retry(key)
        else:
            self.timers.succeeded(key)
        # Revision annotation and status, gathered over the sync, are written once.
        if deployment["metadata"] != stored["metadata"] or deployment.get("status") != stored.get("status"):
            self.objects.save(self.deployments, deployment)

    def _sync(self, d: JsonObject) -> None:
        if not d["spec"].get("selector"):
            self.event(
                d,
                WARNING,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
            )
            status = d.setdefault("status", {})
            status["observedGeneration"] = d["metadata"].get("generation", 1)
            return
        candidates = self.context.claim_candidates(d, self.replicasets)
        rs_list = claim(self, d, self.replicasets, candidates, selector_of(d))
        if d["metadata"].get("deletionTimestamp"):
            new_rs, olds = self._new_and_old(d, rs_list, create=False)
            self._sync_status(d, new_rs, olds)
            return
        self._check_paused_conditions(d)
        if d["spec"].get("paused") or self._is_scaling_event(d, rs_list):
            self._sync_scale(d, rs_list)
        elif (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            self._rollout_recreate(d, rs_list)
        else:
            self._rollout_rolling(d, rs_list)

    # Finding (and creating) the new ReplicaSet ---------------------------------------------------

    def _new_and_old(
        self, d: JsonObject, rs_list: list[JsonObject], *, create: bool
    ) -> tuple[JsonObject | None, list[JsonObject]]:
        """getAllReplicaSetsAndSyncRevision: the new set (created if asked) and the old ones."""
        template = normalized_template(d["spec"]["template"])
        ordered = sorted(rs_list, key=creation_order)
        existing = next((rs for rs in ordered if _equal_ignoring_hash(template, rs)), None)
        olds = [rs for rs in ordered if rs is not existing]
        revision = max((revision_of(rs) for rs in olds), default=0) + 1
        if existing is not None:
            return self._sync_new_rs(d, existing, revision), olds
        if not create:
            return None, olds
        return self._create_new_rs(d, template, olds, revision), olds

    def _sync_new_rs(self, d: JsonObject, rs: JsonObject, revision: int) -> JsonObject:
        updated = clone(rs)
        surge, _ = rollout_limits(d)
        annotations_changed = set_new_rs_annotations(d, updated, revision, exists=True, max_surge=surge)
        min_ready = int(d["spec"].get("minReadySeconds", 0))
        if annotations_changed or int(rs["spec"].get("minReadySeconds", 0)) != min_ready:
            _set_min_ready(updated, min_ready)
            return self.objects.save(self.replicasets, updated)
        _set_revision(d, updated["metadata"]["annotations"].get(REVISION, ""))
        if progress_deadline(d) is not None and condition(d, PROGRESSING) is None:
            self._condition(
                d, PROGRESSING, "True", FOUND_NEW_RS, f'Found new replica set "{rs["metadata"]["name"]}"'
            )
        return rs

    def _create_new_rs(
        self, d: JsonObject, template: JsonObject, olds: list[JsonObject], revision: int
    ) -> JsonObject:
        status = d.setdefault("status", {})
        digest = template_hash(template, int(status.get("collisionCount", 0)))
        meta = d["metadata"]
        rs_template = clone(template)
        labels = {**rs_template["metadata"].get("labels", {}), POD_TEMPLATE_HASH: digest}
        rs_template["metadata"]["labels"] = labels
        selector = clone(d["spec"]["selector"])
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), POD_TEMPLATE_HASH: digest}
        name = f"{meta['name']}-{digest}"
        rs: JsonObject = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": dict(labels),
                "ownerReferences": [controller_ref(d)],
            },
            "spec": {"replicas": 0, "selector": selector, "template": rs_template},
        }
        _set_min_ready(rs, int(d["spec"].get("minReadySeconds", 0)))
        surge, _ = rollout_limits(d)
        replicas = self._first_size(d, olds, surge)
        rs["spec"]["replicas"] = replicas
        set_new_rs_annotations(d, rs, revision, exists=False, max_surge=surge)
        try:
            created = self.objects.create_owned(self.replicasets, rs)
            already_existed = False
        except StatusError as err:
            created = self._existing_or_collision(d, template, name, err)
            already_existed = True
        if not already_existed and replicas > 0:
            self.event(d, NORMAL, "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {replicas}")
        _set_revision(d, str(revision))
        if not already_existed and progress_deadline(d) is not None:
            self._condition(d, PROGRESSING, "True", NEW_RS_CREATED, f'Created new replica set "{name}"')
        return created

    def _first_size(self, d: JsonObject, olds: list[JsonObject], surge: int) -> int:
        """NewRSNewReplicas for a set that does not exist yet."""
        desired = spec_replicas(d)
        if (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            return desired
        total = sum(spec_replicas(rs) for rs in olds)
        return max(0, min(desired + surge - total, desired))

    def _existing_or_collision(
        self, d: JsonObject, template: JsonObject, name: str, err: StatusError
    ) -> JsonObject:
        """The create was refused. An equal set of ours by that name is the new set; a different
        one is a hash collision (bump collisionCount and retry); anything else is reported."""
        if err.code == 409 and err.reason == "AlreadyExists":
            existing = self.context.store.get(self.replicasets.storage_key, d["metadata"]["namespace"], name)
            owner = controller_of(existing) if existing is not None else None
            if (
                existing is not None
                and owner is not None
                and owner.get("uid") == d["metadata"]["uid"]
                and _equal_ignoring_hash(template, existing)
            ):
                return existing
            status = d.setdefault("status", {})
            status["collisionCount"] = int(status.get("collisionCount", 0)) + 1
            raise SyncError(err.message) from err
        message = f'Failed to create new replica set "{name}": {err.message}'
        if progress_deadline(d) is not None:
            self._condition(d, PROGRESSING, "False", RS_CREATE_ERROR, message)
        self.event(d, WARNING, RS_CREATE_ERROR, message)
        raise SyncError(message) from err

    # Scaling ------------------------------------------------------------------------------------

    def _scale_rs(self, d: JsonObject, rs: JsonObject, size: int) -> JsonObject:
        """scaleReplicaSet: set the size and the size annotations; an event when the size changed."""
        surge, _ = rollout_limits(d)
        desired = spec_replicas(d)
        old_size = spec_replicas(rs)
        updated = clone(rs)
        updated["spec"]["replicas"] = size
        annotations_changed = _set_size_annotations(updated, desired, desired + surge)
        if old_size == size and not annotations_changed:
            return rs
        saved = self.objects.save(self.replicasets, updated)
        if old_size != size:
            direction = "up" if size > old_size else "down"
            self.event(
                d,
                NORMAL,
                "ScalingReplicaSet",
                f"Scaled {direction} replica set {rs['metadata']['name']} from {old_size} to {size}",
            )
        return saved

    def _resize(self, d: JsonObject, rs: JsonObject, size: int) -> JsonObject:
        """scaleReplicaSetAndRecordEvent: only touch a set whose size changes."""
        return rs if spec_replicas(rs) == size else self._scale_rs(d, rs, size)

    def _is_scaling_event(self, d: JsonObject, rs_list: list[JsonObject]) -> bool:
        """Some active set was sized for a different deployment size: scale, don't roll."""
        new_rs, olds = self._new_and_old(d, rs_list, create=False)
        for rs in _active([*olds, new_rs]):
            desired = _int_annotation(rs, DESIRED_REPLICAS)
            if desired is not None and desired != spec_replicas(d):
                return True
        return False

    def _sync_scale(self, d: JsonObject, rs_list: list[JsonObject]) -> None:
        """sync: scale for a paused deployment or a size change, without rolling anything out."""
        new_rs, olds = self._new_and_old(d, rs_list, create=False)
        self._scale(d, new_rs, olds)
        if d["spec"].get("paused"):
            self._cleanup(d, olds)
        self._sync_status(d, new_rs, olds)

    def _scale(self, d: JsonObject, new_rs: JsonObject | None, olds: list[JsonObject]) -> None:
        desired = spec_replicas(d)
        single = _active_or_latest(new_rs, olds)
        if single is not None:
            self._resize(d, single, desired)
            return
        if new_rs is not None and _saturated(d, new_rs):
            for old in _active(olds):
                self._resize(d, old, 0)
            return
        if (d["spec"].get("strategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
            return
        by_name = {rs["metadata"]["name"]: rs for rs in _active([*olds, new_rs])}
        sets = [
            ScalableSet(name, spec_replicas(rs), _int_annotation(rs, MAX_REPLICAS), creation_order(rs))
            for name, rs in by_name.items()
        ]
        surge, _ = rollout_limits(d)
        for name, size in proportional_sizes(sets, desired, surge, _status_count(d, "replicas")):
            self._scale_rs(d, by_name[name], size)

    # Strategies ---------------------------------------------------------------------------------------

    def _rollout_rolling(self, d: JsonObject, rs_list: list[JsonObject]) -> None:
        new_rs, olds = self._new_and_old(d, rs_list, create=True)
        assert new_rs is not None
        active_olds = _active(olds)
        surge, unavailable = rollout_limits(d)
        step = rolling_step(
            spec_replicas(d), surge, unavailable, _size(new_rs), [_size(rs) for rs in active_olds]
        )
        if step.new_replicas != spec_replicas(new_rs):
            self._resize(d, new_rs, step.new_replicas)
            self._sync_rollout_status(d, new_rs, olds)
            return
        scaled_down = False
        for sizes in (step.old_after_cleanup, step.old_after_scale_down):
            for index, size in enumerate(sizes):
                if size != spec_replicas(active_olds[index]):
                    active_olds[index] = self._resize(d, active_olds[index], size)
                    scaled_down = True
        if not scaled_down and deployment_complete(d, d.get("status") or {}):
            self._cleanup(d, olds)
        self._sync_rollout_status(d, new_rs, olds)

    def _rollout_recreate(self, d: JsonObject, rs_list: list[JsonObject]) -> None:
        new_rs, olds = self._new_and_old(d, rs_list, create=False)
        active_olds = _active(olds)
        for rs in active_olds:
            self._resize(d, rs, 0)
        if active_olds or self._old_pods_running(olds):
            self._sync_rollout_status(d, new_rs, olds)
            return
        if new_rs is None:
            new_rs, olds = self._new_and_old(d, rs_list, create=True)
            assert new_rs is not None
        self._resize(d, new_rs, spec_replicas(d))
        if deployment_complete(d, d.get("status") or {}):
            self._cleanup(d, olds)
        self._sync_rollout_status(d, new_rs, olds)

    def _old_pods_running(self, olds: list[JsonObject]) -> bool:
        if any(_status_count(rs, "replicas") > 0 for rs in olds):
            return True
        return any(not is_pod_terminal(pod) for rs in olds for pod in self.context.owned(rs, self.pods))

    def _cleanup(self, d: JsonObject, olds: list[JsonObject]) -> None:
        """Delete the oldest old sets beyond revisionHistoryLimit, if they are scaled to zero."""
        limit = d["spec"].get("revisionHistoryLimit")
        if limit is None:
            return
        cleanable = [rs for rs in olds if not rs["metadata"].get("deletionTimestamp")]
        surplus = len(cleanable) - int(limit)
        cleanable.sort(key=lambda rs: (revision_of(rs), *creation_order(rs)))
        for rs in cleanable[: max(0, surplus)]:
            if (
                spec_replicas(rs)
                or _status_count(rs, "replicas")
                or rs["metadata"].get("generation", 1) > _status_count(rs, "observedGeneration")
            ):
                continue
            try:
                self.objects.delete(
                    self.replicasets, rs["metadata"]["namespace"], rs["metadata"]["name"], DeleteOptions()
                )
            except StatusError as err:
                if err.code != 404:
                    raise SyncError(err.message) from err

    # Status and conditions ------------------------------------------------------------------------------

    def _condition(self, d: JsonObject, cond_type: str, value: str, reason: str, message: str) -> None:
        set_deployment_condition(
            d.setdefault("status", {}), cond_type, value, reason, message, self.objects.now()
        )

    def _check_paused_conditions(self, d: JsonObject) -> None:
        """A pause or resume resets the progress clock, with an Unknown Progressing condition."""
        if progress_deadline(d) is None:
            return
        current = condition(d, PROGRESSING)
        if current is not None and current.get("reason") == TIMED_OUT:
            return
        paused_noted = current is not None and current.get("reason") == PAUSED
        if d["spec"].get("paused") and not paused_noted:
            self._condition(d, PROGRESSING, "Unknown", PAUSED, "Deployment is paused")
        elif not d["spec"].get("paused") and paused_noted:
            self._condition(d, PROGRESSING, "Unknown", RESUMED, "Deployment is resumed")

    def _calculate_status(
        self, d: JsonObject, new_rs: JsonObject | None, olds: list[JsonObject]
    ) -> JsonObject:
        current = [self.fresh(self.replicasets, rs) for rs in [*olds, new_rs] if rs is not None]
        all_rs = [rs for rs in current if rs is not None]
        new_now = self.fresh(self.replicasets, new_rs) if new_rs is not None else None
        old_status = d.get("status") or {}
        available = sum(_status_count(rs, "availableReplicas") for rs in all_rs)
        status: JsonObject = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": sum(_status_count(rs, "replicas") for rs in all_rs),
            "updatedReplicas": _status_count(new_now, "replicas"),
            "readyReplicas": sum(_status_count(rs, "readyReplicas") for rs in all_rs),
            "availableReplicas": available,
            "unavailableReplicas": max(0, sum(spec_replicas(rs) for rs in all_rs) - available),
        }
        if "collisionCount" in old_status:
            status["collisionCount"] = old_status["collisionCount"]
        if old_status.get("conditions"):
            status["conditions"] = [dict(c) for c in old_status["conditions"]]
        _, unavailable = rollout_limits(d)
        now = self.objects.now()
        if available >= spec_replicas(d) - unavailable:
            set_deployment_condition(
                status,
                AVAILABLE,
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                now,
            )
        else:
            set_deployment_condition(
                status,
                AVAILABLE,
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                now,
            )
        return drop_zeros(status, _COUNTERS)

    def _sync_status(self, d: JsonObject, new_rs: JsonObject | None, olds: list[JsonObject]) -> None:
        d["status"] = self._calculate_status(d, new_rs, olds)

    def _sync_rollout_status(self, d: JsonObject, new_rs: JsonObject | None, olds: list[JsonObject]) -> None:
        """syncRolloutStatus: counts, then whether the rollout completed, progressed or timed out."""
        status = self._calculate_status(d, new_rs, olds)
        deadline = progress_deadline(d)
        if deadline is None:
            _remove_condition(status, PROGRESSING)
        current = condition(d, PROGRESSING)
        now = self.objects.now()
        subject = (
            f'ReplicaSet "{new_rs["metadata"]["name"]}"'
            if new_rs
            else f'Deployment "{d["metadata"]["name"]}"'
        )
        rollout_done = (
            status.get("replicas", 0) == status.get("updatedReplicas", 0)
            and current is not None
            and current.get("reason") == NEW_RS_AVAILABLE
        )
        if deadline is not None and not rollout_done:
            if deployment_complete(d, status):
                set_deployment_condition(
                    status,
                    PROGRESSING,
                    "True",
                    NEW_RS_AVAILABLE,
                    f"{subject} has successfully progressed.",
                    now,
                )
            elif _progressed(d, status):
                # Progress moves lastUpdateTime even when the reason stays the same.
                kept = (
                    current.get("lastTransitionTime") if current and current.get("status") == "True" else now
                )
                _remove_condition(status, PROGRESSING)
                set_deployment_condition(
                    status, PROGRESSING, "True", RS_UPDATED, f"{subject} is progressing.", now
                )
                status["conditions"][-1]["lastTransitionTime"] = kept
            elif self._timed_out(status, deadline):
                set_deployment_condition(
                    status, PROGRESSING, "False", TIMED_OUT, f"{subject} has timed out progressing.", now
                )
        self._copy_replica_failure(status, new_rs, olds)
        if status == (d.get("status") or {}):
            self._requeue_if_stuck(d, status, deadline)
            return
        d["status"] = status

    def _timed_out(self, status: JsonObject, deadline: int) -> bool:
        current = condition({"status": status}, PROGRESSING)
        if current is None or current.get("reason") == NEW_RS_AVAILABLE:
            return False
        if current.get("reason") == TIMED_OUT:
            return True
        since = parse_time(current.get("lastUpdateTime"))
        return since is not None and since + deadline < self.now()

    def _requeue_if_stuck(self, d: JsonObject, status: JsonObject, deadline: int | None) -> None:
        """Come back when the progress deadline passes, to declare the rollout timed out."""
        current = condition(d, PROGRESSING)
        if (
            deadline is None
            or current is None
            or deployment_complete(d, status)
            or current.get("reason") == TIMED_OUT
        ):
            return
        since = parse_time(current.get("lastUpdateTime"))
        if since is not None:
            # A second past the deadline: timestamps have whole seconds and the check is strict.
            self.timers.at(key_of(d), max(since + deadline, self.now()) + 1)

    def _copy_replica_failure(
        self, status: JsonObject, new_rs: JsonObject | None, olds: list[JsonObject]
    ) -> None:
        """The new set's ReplicaFailure condition (else an old set's) becomes the deployment's."""
        for rs in [new_rs, *olds]:
            current = self.fresh(self.replicasets, rs) if rs is not None else None
            failure = condition(current, REPLICA_FAILURE) if current is not None else None
            if failure is not None:
                since = failure.get("lastTransitionTime")
                put_condition(
                    status,
                    {
                        "type": REPLICA_FAILURE,
                        "status": failure.get("status"),
                        "lastUpdateTime": since,
                        "lastTransitionTime": since,
                        "reason": failure.get("reason"),
                        "message": failure.get("message"),
                    },
                )
                return
        if status.get("conditions"):
            _remove_condition(status, REPLICA_FAILURE)


def _active(sets: Iterable[JsonObject | None]) -> list[JsonObject]:
    return [rs for rs in sets if rs is not None and spec_replicas(rs) > 0]


def _active_or_latest(new_rs: JsonObject | None, olds: list[JsonObject]) -> JsonObject | None:
    """The only active set, or with none active the new (else newest) one; None when several are."""
    newest_first = sorted(olds, key=creation_order, reverse=True)
    active = _active([*newest_first, new_rs])
    if len(active) == 1:
        return active[0]
    if not active:
        return new_rs if new_rs is not None else (newest_first[0] if newest_first else None)
    return None


def _saturated(d: JsonObject, rs: JsonObject) -> bool:
    desired = spec_replicas(d)
    return (
        spec_replicas(rs) == desired
        and _int_annotation(rs, DESIRED_REPLICAS) == desired
        and _status_count(rs, "availableReplicas") == desired
    )


def _size(rs: JsonObject) -> SetSize:
    return SetSize(spec_replicas(rs), _status_count(rs, "availableReplicas"))


def _set_min_ready(rs: JsonObject, seconds: int) -> None:
    if seconds:
        rs["spec"]["minReadySeconds"] = seconds
    else:
        rs["spec"].pop("minReadySeconds", None)


def _set_revision(d: JsonObject, revision: str) -> None:
    annotations = d["metadata"].setdefault("annotations", {})
    if annotations.get(REVISION) != revision:
        annotations[REVISION] = revision
