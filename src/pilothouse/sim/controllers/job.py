"""The Job controller (pkg/controller/job), with the TTL-after-finished controller's one duty.

A Job keeps up to `parallelism` pods running until `completions` of them succeed (Indexed jobs:
until every index in 0..completions-1 has), replacing failed pods after a back-off of 10 s
doubling to 6 min. More than `backoffLimit` failures, or `activeDeadlineSeconds` of activity,
fail it: FailureTarget is recorded, its pods are deleted, and Failed follows once none is left
terminating; success records SuccessCriteriaMet, then Complete. A finished Job with
`ttlSecondsAfterFinished` is deleted that long after it finished.

The real controller marks a finished pod as counted by removing its
batch.kubernetes.io/job-tracking finalizer; the simulated kubelet removes pods without waiting
for finalizers, so the controller remembers counted pods itself, and notes pods that vanish
before it counted them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pilothouse.sim.controllers.base import ControllerContext, KeyMapper, condition, controller_ref, own_key
from pilothouse.sim.controllers.workloads import (
    SyncError,
    WorkloadController,
    claim,
    controller_of,
    deletion_order,
    drop_zeros,
    owner_mapper,
    selector_of,
    slow_start_batch,
)
from pilothouse.sim.events import NORMAL, WARNING
from pilothouse.sim.objects import DeleteOptions, parse_time
from pilothouse.sim.podutil import is_pod_active, is_pod_ready, is_pod_terminal, pod_from_template
from pilothouse.sim.selectors import LabelSelector
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import JsonObject, StorageKey, StoreEvent, clone

JOB_NAME_LABEL, LEGACY_JOB_NAME_LABEL = "batch.kubernetes.io/job-name", "job-name"
CONTROLLER_UID_LABEL, LEGACY_CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid", "controller-uid"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
POD_FAILURE_BACKOFF, POD_FAILURE_BACKOFF_MAX = 10.0, 360.0
MAX_POD_CREATE_DELETE_PER_SYNC = 500

COMPLETE, FAILED, FAILURE_TARGET = "Complete", "Failed", "FailureTarget"
SUCCESS_CRITERIA_MET, SUSPENDED = "SuccessCriteriaMet", "Suspended"
BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")


# Facts about jobs ---------------------------------------------------------------------------------


def finished_type(job: JsonObject) -> str | None:
    """ "Complete" or "Failed" when the job has finished (IsJobFinished), else None."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in (COMPLETE, FAILED) and cond.get("status") == "True":
            return str(cond["type"])
    return None


def job_selector(job: JsonObject) -> LabelSelector:
    """The job's selector; without one, the one the API server would have generated from its uid."""
    if (job.get("spec") or {}).get("selector"):
        return selector_of(job)
    return LabelSelector.from_labels({CONTROLLER_UID_LABEL: job["metadata"]["uid"]})


def completion_index(pod: JsonObject) -> int | None:
    text = (pod["metadata"].get("annotations") or {}).get(COMPLETION_INDEX, "")
    return int(text) if text.isdigit() else None


def parse_indexes(text: str | None) -> set[int]:
    """`status.completedIndexes` ("0-2,5") as a set."""
    indexes: set[int] = set()
    for part in (text or "").split(","):
        first, _, last = part.partition("-")
        if first.isdigit():
            indexes.update(range(int(first), int(last or first) + 1))
    return indexes


def format_indexes(indexes: Iterable[int]) -> str:
    """A set of indexes as ordered intervals, consecutive ones merged: {0,1,2,5} -> "0-2,5"."""
    intervals: list[list[int]] = []
    for index in sorted(indexes):
        if intervals and index == intervals[-1][1] + 1:
            intervals[-1][1] = index
        else:
            intervals.append([index, index])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in intervals)


def backoff_remaining(failures: int, last_failure: float | None, now: float) -> float:
    """How long pod creation still waits after `failures` failures in a row, the last at `last_failure`."""
    if failures == 0 or last_failure is None:
        return 0.0
    delay = min(POD_FAILURE_BACKOFF * 2 ** (failures - 1), POD_FAILURE_BACKOFF_MAX)
    elapsed = now - last_failure
    return 0.0 if delay < elapsed else delay - elapsed


def finish_time(pod: JsonObject, now: float) -> float:
    """When a pod finished: its last container exit, else its deletion, else now."""
    times = [
        parse_time(((s.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        for s in (pod.get("status") or {}).get("containerStatuses") or []
    ]
    known = [t for t in times if t is not None]
    if known:
        return max(known)
    return parse_time(pod["metadata"].get("deletionTimestamp")) or now


def ensure_condition(
    status: JsonObject, cond_type: str, value: str, reason: str, message: str, now: str
) -> bool:
    """ensureJobConditionStatus: set a condition, adding it only if it is not False; True if changed."""
    conditions = status.setdefault("conditions", [])
    new = {
        "type": cond_type,
        "status": value,
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }
    for index, cond in enumerate(conditions):
        if cond.get("type") == cond_type:
            if (cond.get("status"), cond.get("reason"), cond.get("message")) == (value, reason, message):
                return False
            conditions[index] = new
            return True
    if value == "False":
        return False
    conditions.append(new)
    return True


def _failed(pod: JsonObject, job: JsonObject) -> bool:
    """isPodFailed: a failed pod, or (unless only failed pods are replaced) one being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Failed":
        return True
    if job["spec"].get("podReplacementPolicy") == "Failed":
        return False
    return bool(pod["metadata"].get("deletionTimestamp")) and phase != "Succeeded"


def _past_backoff_limit_on_failure(job: JsonObject, pods: Sequence[JsonObject]) -> bool:
    """With restartPolicy OnFailure failures are container restarts, summed over running pods."""
    spec = job["spec"]
    if (spec.get("template") or {}).get("spec", {}).get("restartPolicy") != "OnFailure":
        return False
    restarts = 0
    for pod in pods:
        status = pod.get("status") or {}
        if status.get("phase") in ("Running", "Pending"):
            for container in (status.get("initContainerStatuses") or []) + (
                status.get("containerStatuses") or []
            ):
                restarts += int(container.get("restartCount", 0))
    limit = int(spec.get("backoffLimit", 6))
    return restarts > 0 if limit == 0 else restarts >= limit


# The controller --------------------------------------------------------------------------------


@dataclass
class _Tracking:
    """What the controller remembers of one job between syncs."""

    uid: str
    counted: set[str] = field(default_factory=set)  # finished pods already in the status counters
    vanished: dict[str, JsonObject] = field(default_factory=dict)  # removed before they were counted
    failures_in_a_row: int = 0  # failures since the last success, for the creation back-off
    last_failure: float | None = None


@dataclass
class _Sync:
    """The numbers one sync works out (syncJobCtx)."""

    active: int
    ready: int
    terminating: int
    succeeded: int
    failed: int
    succeeded_indexes: set[int] | None  # Indexed jobs only
    finished: tuple[str, str, str] | None = None  # condition type, reason, message
    error: str | None = None


class JobController(WorkloadController):
    name = "job-controller"

    def __init__(self, context: ControllerContext) -> None:
        super().__init__(context)
        self.jobs = context.resource("batch", "Job")
        self._tracking: dict[str, _Tracking] = {}
        self._pod_owners = owner_mapper(context, self.jobs, job_selector)

    def watches(self) -> dict[StorageKey, KeyMapper]:
        return {self.jobs.storage_key: own_key, self.pods.storage_key: self._pod_changed}

    def _pod_changed(self, event: StoreEvent) -> Iterable[str]:
        if event.type == "DELETED":
            self._note_vanished(event.object)
        return self._pod_owners(event)

    def _note_vanished(self, pod: JsonObject) -> None:
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != "Job":
            return
        tracking = self._tracking.get(f"{pod['metadata'].get('namespace', '')}/{ref['name']}")
        uid = pod["metadata"]["uid"]
        if tracking is not None and tracking.uid == ref.get("uid") and uid not in tracking.counted:
            tracking.vanished[uid] = pod

    def reconcile(self, key: str) -> None:
        job = self.context.get(self.jobs, key)
        if job is None:
            self.timers.forget(key)
            self._tracking.pop(key, None)
            return
        finished = finished_type(job)
        if finished is not None:
            self._tracking.pop(key, None)
            self._expire(key, job, finished)
            return
        tracking = self._tracking_for(key, job)
        candidates = self.context.claim_candidates(job, self.pods)
        pods = claim(self, job, self.pods, candidates, job_selector(job))
        status = clone(job.get("status") or {})
        sync = self._sync(key, job, tracking, pods, status)
        saved = self.write_status(self.jobs, job, status)
        if sync.error is not None:
            self.timers.retry(key)
        else:
            self.timers.succeeded(key)
        finished = finished_type(saved)
        if finished is not None:
            self._record_finished(saved, finished)
            self._tracking.pop(key, None)
            self._expire(key, saved, finished)

    def _record_finished(self, job: JsonObject, finished: str) -> None:
        if finished == COMPLETE:
            self.event(job, NORMAL, "Completed", "Job completed")
            return
        failed = condition(job, FAILED) or {}
        self.event(job, WARNING, failed.get("reason", ""), failed.get("message", ""))

    def _tracking_for(self, key: str, job: JsonObject) -> _Tracking:
        tracking = self._tracking.get(key)
        if tracking is None or tracking.uid != job["metadata"]["uid"]:
            tracking = self._tracking[key] = _Tracking(job["metadata"]["uid"])
            status = job.get("status") or {}
            if status.get("succeeded") or status.get("failed"):
                # Counted before this controller was running: take the finished pods as counted.
                tracking.counted = {
                    p["metadata"]["uid"] for p in self.context.owned(job, self.pods) if is_pod_terminal(p)
                }
        return tracking

    def _sync(
        self, key: str, job: JsonObject, tracking: _Tracking, pods: list[JsonObject], status: JsonObject
    ) -> _Sync:
        """syncJob: count finished pods, decide whether the job has finished, else manage its pods."""
        spec, now, now_text = job["spec"], self.now(), self.objects.now()
        active_pods = [pod for pod in pods if is_pod_active(pod)]
        new_succeeded, new_failed = self._newly_finished(job, tracking, pods)
        sync = _count(job, status, pods, active_pods, new_succeeded, new_failed)
        if not status.get("startTime") and not spec.get("suspend"):
            status["startTime"] = now_text
        self._record_backoff(tracking, new_succeeded, new_failed, now)
        sync.finished = self._finishing(key, job, status, pods, sync.failed, now)
        if sync.finished is not None:
            deleted, deleted_ready = self._delete_all(job, active_pods)
            if deleted != sync.active:
                sync.finished = None
            sync.active -= deleted
            sync.ready -= deleted_ready
            sync.terminating += deleted
        else:
            if not job["metadata"].get("deletionTimestamp"):
                self._manage(key, job, tracking, active_pods, sync)
                if not _complete(spec, sync):
                    self._note_suspension(job, status, now_text)
            if _complete(spec, sync):
                sync.finished = (SUCCESS_CRITERIA_MET, *COMPLETIONS_REACHED)
        tracking.counted.update(p["metadata"]["uid"] for p in (*new_succeeded, *new_failed))
        tracking.vanished.clear()
        self._fill_status(status, sync, now_text)
        return sync

    def _finishing(
        self,
        key: str,
        job: JsonObject,
        status: JsonObject,
        pods: Sequence[JsonObject],
        failed: int,
        now: float,
    ) -> tuple[str, str, str] | None:
        """The condition the job is finishing with, if it is (success recorded earlier, or a failure)."""
        met = condition({"status": status}, SUCCESS_CRITERIA_MET)
        if met is not None:
            return (SUCCESS_CRITERIA_MET, met.get("reason", ""), met.get("message", ""))
        target = condition({"status": status}, FAILURE_TARGET)
        if target is not None and target.get("status") == "True":
            return (FAILED, target.get("reason", ""), target.get("message", ""))
        spec = job["spec"]
        if failed > int(spec.get("backoffLimit", 6)) or _past_backoff_limit_on_failure(job, pods):
            return (FAILURE_TARGET, *BACKOFF_LIMIT_EXCEEDED)
        deadline = spec.get("activeDeadlineSeconds")
        started = parse_time(status.get("startTime"))
        if deadline is not None and started is not None and not spec.get("suspend"):
            if now - started >= int(deadline):
                return (FAILURE_TARGET, *DEADLINE_EXCEEDED)
            self.timers.at(key, started + int(deadline))
        return None

    @staticmethod
    def _newly_finished(
        job: JsonObject, tracking: _Tracking, pods: list[JsonObject]
    ) -> tuple[list[JsonObject], list[JsonObject]]:
        """Pods that succeeded or failed (or vanished) since they were last counted."""
        uncounted = [
            p for p in (*pods, *tracking.vanished.values()) if p["metadata"]["uid"] not in tracking.counted
        ]
        succeeded = [p for p in uncounted if (p.get("status") or {}).get("phase") == "Succeeded"]
        failed = [
            p
            for p in uncounted
            if (p.get("status") or {}).get("phase") != "Succeeded"
            and (_failed(p, job) or p["metadata"]["uid"] in tracking.vanished)
        ]
        return succeeded, failed

    def _note_suspension(self, job: JsonObject, status: JsonObject, now_text: str) -> None:
        if job["spec"].get("suspend"):
            if ensure_condition(status, SUSPENDED, "True", "JobSuspended", "Job suspended", now_text):
                self.event(job, NORMAL, "Suspended", "Job suspended")
        elif ensure_condition(status, SUSPENDED, "False", "JobResumed", "Job resumed", now_text):
            self.event(job, NORMAL, "Resumed", "Job resumed")
            # activeDeadlineSeconds counts continuous activity: a resumed job starts again.
            status["startTime"] = now_text

    def _fill_status(self, status: JsonObject, sync: _Sync, now_text: str) -> None:
        status.update(
            active=sync.active,
            ready=sync.ready,
            terminating=sync.terminating,
            succeeded=sync.succeeded,
            failed=sync.failed,
            uncountedTerminatedPods={},
        )
        if sync.succeeded_indexes is not None:
            status["completedIndexes"] = format_indexes(sync.succeeded_indexes)
        finished = sync.finished
        if finished is not None and finished[0] == FAILURE_TARGET:
            ensure_condition(status, FAILURE_TARGET, "True", finished[1], finished[2], now_text)
            finished = sync.finished = (FAILED, finished[1], finished[2])
        if finished is not None and finished[0] == SUCCESS_CRITERIA_MET:
            ensure_condition(status, SUCCESS_CRITERIA_MET, "True", finished[1], finished[2], now_text)
            finished = sync.finished = (COMPLETE, finished[1], finished[2])
        # The terminal condition waits until no pod of the job is still terminating.
        if finished is not None and sync.terminating == 0:
            ensure_condition(status, finished[0], "True", finished[1], finished[2], now_text)
            if finished[0] == COMPLETE:
                status["completionTime"] = now_text
        drop_zeros(status, ("active", "succeeded", "failed", "completedIndexes", "conditions"))

    # Pods ------------------------------------------------------------------------------------------

    def _record_backoff(
        self, tracking: _Tracking, succeeded: Sequence[JsonObject], failed: Sequence[JsonObject], now: float
    ) -> None:
        """newBackoffRecord: failures since the last success, and when the last one happened."""
        failure_times = sorted(finish_time(p, now) for p in failed)
        if succeeded:
            last_success = max(finish_time(p, now) for p in succeeded)
            failure_times = [t for t in failure_times if t > last_success]
            tracking.failures_in_a_row, tracking.last_failure = 0, None
        if failure_times:
            tracking.failures_in_a_row += len(failure_times)
            tracking.last_failure = failure_times[-1]

    def _manage(
        self, key: str, job: JsonObject, tracking: _Tracking, active_pods: list[JsonObject], sync: _Sync
    ) -> None:
        """manageJob: delete surplus pods, or create missing ones once the failure back-off allows."""
        spec = job["spec"]
        if spec.get("suspend"):
            self._remove(job, tracking, _pods_for_removal(job, active_pods, len(active_pods)), sync)
            return
        parallelism, completions = int(spec.get("parallelism", 1)), spec.get("completions")
        if completions is None:
            wanted = sync.active if sync.succeeded > 0 else parallelism
        else:
            wanted = max(0, min(int(completions) - sync.succeeded, parallelism))
        surplus = _pods_for_removal(job, active_pods, max(0, sync.active - wanted))
        if surplus:
            self._remove(job, tracking, surplus[:MAX_POD_CREATE_DELETE_PER_SYNC], sync)
            return
        replacing = sync.terminating if spec.get("podReplacementPolicy") == "Failed" else 0
        missing = min(wanted - replacing - sync.active, MAX_POD_CREATE_DELETE_PER_SYNC)
        if missing <= 0:
            return
        wait = backoff_remaining(tracking.failures_in_a_row, tracking.last_failure, self.now())
        if wait > 0:
            self.timers.after(key, wait)
            return
        indexes: Sequence[int | None] = [None] * missing
        if sync.succeeded_indexes is not None:
            # firstPendingIndexes: the lowest indexes neither succeeded nor running.
            taken = sync.succeeded_indexes | {completion_index(p) for p in active_pods}
            indexes = [i for i in range(int(completions or 0)) if i not in taken][:missing]
        created, error = slow_start_batch(
            len(indexes), lambda n: self.create_pod(job, self._new_pod(job, indexes[n]))
        )
        sync.active += created
        sync.error = error.message if error is not None else None

    def _remove(self, job: JsonObject, tracking: _Tracking, pods: Sequence[JsonObject], sync: _Sync) -> None:
        """deleteJobPods: pods the job no longer wants are not failures; the real controller drops
        their tracking finalizer before deleting them, so they are never counted."""
        tracking.counted.update(pod["metadata"]["uid"] for pod in pods)
        deleted, deleted_ready = self._delete_all(job, pods)
        sync.active -= deleted
        sync.ready -= deleted_ready
        sync.terminating += deleted

    def _delete_all(self, job: JsonObject, pods: Sequence[JsonObject]) -> tuple[int, int]:
        """Delete pods; returns how many were deleted (or already gone) and how many of those were ready."""
        deleted = deleted_ready = 0
        for pod in pods:
            try:
                self.delete_pod(job, pod)
            except SyncError:
                continue
            deleted += 1
            deleted_ready += 1 if is_pod_ready(pod) else 0
        return deleted, deleted_ready

    def _new_pod(self, job: JsonObject, index: int | None) -> JsonObject:
        meta = job["metadata"]
        labels = {
            JOB_NAME_LABEL: meta["name"],
            LEGACY_JOB_NAME_LABEL: meta["name"],
            CONTROLLER_UID_LABEL: meta["uid"],
            LEGACY_CONTROLLER_UID_LABEL: meta["uid"],
        }
        template = clone(job["spec"].get("template") or {})
        template_meta = template.setdefault("metadata", {})
        template_meta["labels"] = {**labels, **(template_meta.get("labels") or {})}
        generate_name = f"{meta['name']}-"
        if index is not None:
            generate_name = f"{meta['name']}-{index}-"
            template_meta["labels"][COMPLETION_INDEX] = str(index)
            template_meta["annotations"] = {
                **(template_meta.get("annotations") or {}),
                COMPLETION_INDEX: str(index),
            }
            pod_spec = template.setdefault("spec", {})
            pod_spec["hostname"] = f"{meta['name']}-{index}"
            for container in (pod_spec.get("initContainers") or []) + (pod_spec.get("containers") or []):
                env = container.setdefault("env", [])
                if not any(e.get("name") == COMPLETION_INDEX_ENV for e in env):
                    env.append(
                        {
                            "name": COMPLETION_INDEX_ENV,
                            "valueFrom": {
                                "fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}
                            },
                        }
                    )
        return pod_from_template(
            template, generate_name=generate_name, namespace=meta["namespace"], owner_ref=controller_ref(job)
        )

    # TTL after finished ----------------------------------------------------------------------------

    def _expire(self, key: str, job: JsonObject, finished: str) -> None:
        """ttlSecondsAfterFinished: delete the job (and, in the foreground, its pods) when due."""
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        finished_cond = condition(job, finished)
        if ttl is None or job["metadata"].get("deletionTimestamp") or finished_cond is None:
            return
        finished_at = parse_time(finished_cond.get("lastTransitionTime")) or self.now()
        if self.now() < finished_at + int(ttl):
            self.timers.at(key, finished_at + int(ttl))
            return
        meta = job["metadata"]
        try:
            self.objects.delete(
                self.jobs,
                meta["namespace"],
                meta["name"],
                DeleteOptions(propagation_policy="Foreground", precondition_uid=meta["uid"]),
            )
        except StatusError as err:
            if err.code not in (404, 409):
                self.timers.retry(key)


def _count(
    job: JsonObject,
    status: JsonObject,
    pods: list[JsonObject],
    active_pods: list[JsonObject],
    new_succeeded: list[JsonObject],
    new_failed: list[JsonObject],
) -> _Sync:
    """The counters before this sync acts: earlier counts plus the newly finished pods."""
    succeeded_indexes = None
    succeeded = int(status.get("succeeded", 0)) + len(new_succeeded)
    if job["spec"].get("completionMode") == "Indexed":
        # An index counts once however many of its pods succeeded.
        completions = int(job["spec"].get("completions") or 0)
        succeeded_indexes = parse_indexes(status.get("completedIndexes"))
        succeeded_indexes |= {
            i for p in new_succeeded if (i := completion_index(p)) is not None and i < completions
        }
        succeeded = len(succeeded_indexes)
    return _Sync(
        active=len(active_pods),
        ready=sum(1 for p in active_pods if is_pod_ready(p)),
        terminating=sum(1 for p in pods if p["metadata"].get("deletionTimestamp") and not is_pod_terminal(p)),
        succeeded=succeeded,
        failed=int(status.get("failed", 0)) + len(new_failed),
        succeeded_indexes=succeeded_indexes,
    )


def _complete(spec: JsonObject, sync: _Sync) -> bool:
    completions = spec.get("completions")
    if completions is None:
        return sync.succeeded > 0 and sync.active == 0
    return sync.succeeded >= int(completions) and sync.active == 0


def _pods_for_removal(job: JsonObject, pods: Sequence[JsonObject], at_least: int) -> list[JsonObject]:
    """activePodsForRemoval: for Indexed jobs first pods with an index out of range or repeated
    (keeping the best of each index), then others in deletion order."""
    remove: list[JsonObject] = []
    left = list(pods)
    if job["spec"].get("completionMode") == "Indexed":
        completions = int(job["spec"].get("completions") or 0)
        by_index: dict[int, list[JsonObject]] = {}
        left = []
        for pod in pods:
            index = completion_index(pod)
            if index is None or index >= completions:
                remove.append(pod)
            else:
                by_index.setdefault(index, []).append(pod)
        for _, same in sorted(by_index.items()):
            ordered = deletion_order(same)
            remove += ordered[:-1]
            left.append(ordered[-1])
    if len(remove) < at_least:
        remove += deletion_order(left)[: at_least - len(remove)]
    return remove
