"""The CronJob controller (pkg/controller/cronjob, the v2 controller): a Job per scheduled time.

At each time the schedule names, the controller creates Job `<cronjob>-<minutes since epoch>`
from the job template (unless concurrencyPolicy Forbid finds one still active; Replace deletes
those first), records it in `status.active` and sets a timer for the next time. A start later
than startingDeadlineSeconds is skipped. Finished jobs beyond the history limits are deleted.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pilothouse.sim.controllers.base import (
    ControllerContext,
    KeyMapper,
    controller_owner_keys,
    controller_ref,
    own_key,
)
from pilothouse.sim.controllers.job import COMPLETE, FAILED, finished_type
from pilothouse.sim.controllers.workloads import (
    SyncError,
    WorkloadController,
    controller_of,
    namespace_terminating,
)
from pilothouse.sim.events import NORMAL, WARNING
from pilothouse.sim.objects import DeleteOptions, parse_time, rfc3339
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import JsonObject, StorageKey, clone
from pilothouse.sim.validation import CronParseError, CronSchedule, parse_cron

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
# Timers fire a little after the scheduled second, as the controller's requeue does.
NEXT_SCHEDULE_DELTA = 0.1
MANY_MISSED = 100


def job_name(cronjob_name: str, scheduled: float) -> str:
    """Names are deterministic per scheduled time, so a time is never run twice."""
    return f"{cronjob_name}-{int(scheduled // 60)}"


def most_recent_schedule(schedule: CronSchedule, earliest: float, now: float) -> tuple[float | None, int]:
    """mostRecentScheduleTime: the latest scheduled time after `earliest` and not after `now`, and
    roughly how many were missed. Counting from the interval of two consecutive times keeps a
    controller that was away for years from walking every one of them."""
    first = schedule.next_after(earliest)
    second = schedule.next_after(first)
    if now < first:
        return None, 0
    if now < second:
        return first, 0
    interval = round(second - first)
    if interval < 1:
        raise ValueError("time difference between two schedules is less than 1 second")
    missed = int(now - first) // interval + 1
    recent = None
    moment = schedule.next_after(first + (missed - 2) * interval)
    while moment <= now:
        recent, moment = moment, schedule.next_after(moment)
    return recent, missed


def next_wake(schedule: CronSchedule, earliest: float, now: float) -> float:
    """nextScheduleTimeDuration: when to look again, just after the next scheduled time."""
    try:
        recent, missed = most_recent_schedule(schedule, earliest, now)
    except ValueError:
        recent, missed = now, 0
    if recent is None:
        recent = earliest if missed == 0 else now
    return schedule.next_after(recent) + NEXT_SCHEDULE_DELTA


def _rfc3339_in(epoch: float, zone: str | None) -> str:
    text = datetime.fromtimestamp(int(epoch), ZoneInfo(zone or "UTC")).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _rfc1123z(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def _job_ref(job: JsonObject) -> JsonObject:
    meta = job["metadata"]
    return {
        "kind": "Job",
        "namespace": meta["namespace"],
        "name": meta["name"],
        "uid": meta["uid"],
        "apiVersion": "batch/v1",
        "resourceVersion": meta.get("resourceVersion"),
    }


class CronJobController(WorkloadController):
    name = "cronjob-controller"

    def __init__(self, context: ControllerContext) -> None:
        super().__init__(context)
        self.cronjobs = context.resource("batch", "CronJob")
        self.jobs = context.resource("batch", "Job")

    def watches(self) -> dict[StorageKey, KeyMapper]:
        return {self.cronjobs.storage_key: own_key, self.jobs.storage_key: controller_owner_keys("CronJob")}

    def reconcile(self, key: str) -> None:
        cronjob = self.context.get(self.cronjobs, key)
        if cronjob is None:
            self.timers.forget(key)
            return
        updated = clone(cronjob)
        jobs = self.context.owned(cronjob, self.jobs)
        try:
            wake = self._sync(updated, jobs)
        except SyncError:
            wake = None
            self.timers.retry(key)
        else:
            self.timers.succeeded(key)
        self._cleanup_finished(updated, jobs)
        status = updated.setdefault("status", {})
        if not status.get("active"):
            status.pop("active", None)
        self.write_status(self.cronjobs, cronjob, status)
        if wake is not None and math.isfinite(wake):
            self.timers.at(key, wake)

    def _sync(self, cronjob: JsonObject, jobs: list[JsonObject]) -> float | None:
        """syncCronJob: reconcile the active list, then start the job that is due, if any.
        Returns when to look again (None: not until the CronJob changes)."""
        self._reconcile_active(cronjob, jobs)
        spec, status = cronjob["spec"], cronjob.setdefault("status", {})
        if cronjob["metadata"].get("deletionTimestamp") or spec.get("suspend"):
            return None
        schedule = self._schedule(cronjob)
        if schedule is None:
            return None
        now = self.now()
        earliest = parse_time(status.get("lastScheduleTime")) or parse_time(
            cronjob["metadata"]["creationTimestamp"]
        )
        assert earliest is not None
        deadline = spec.get("startingDeadlineSeconds")
        try:
            scheduled, missed = most_recent_schedule(
                schedule, earliest if deadline is None else max(earliest, now - int(deadline)), now
            )
        except ValueError as err:
            self.event(cronjob, WARNING, "InvalidSchedule", f"invalid schedule: {spec['schedule']} : {err}")
            return None
        if scheduled is None:
            return next_wake(schedule, earliest, now)
        if missed > MANY_MISSED:
            self.event(
                cronjob,
                WARNING,
                "TooManyMissedTimes",
                "too many missed start times. Set or decrease "
                ".spec.startingDeadlineSeconds or check clock skew",
            )
        if deadline is not None and scheduled + int(deadline) < now:
            self.event(
                cronjob,
                WARNING,
                "MissSchedule",
                f"Missed scheduled time to start a job: {_rfc1123z(scheduled)}",
            )
            return next_wake(schedule, earliest, now)
        active = status.setdefault("active", [])
        name = job_name(cronjob["metadata"]["name"], scheduled)
        if any(ref.get("name") == name for ref in active) or status.get("lastScheduleTime") == rfc3339(
            scheduled
        ):
            return next_wake(schedule, earliest, now)
        policy = spec.get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and active:
            self.event(
                cronjob,
                NORMAL,
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
            )
            return next_wake(schedule, earliest, now)
        if policy == "Replace":
            for ref in list(active):
                self._delete_job(cronjob, ref["name"], ref.get("uid", ""))
        if not self._start(cronjob, name, scheduled):
            return None
        status["lastScheduleTime"] = rfc3339(scheduled)
        return next_wake(schedule, scheduled, now)

    def _reconcile_active(self, cronjob: JsonObject, jobs: list[JsonObject]) -> None:
        status = cronjob.setdefault("status", {})
        active: list[JsonObject] = status.setdefault("active", [])
        for job in jobs:
            uid, name = job["metadata"]["uid"], job["metadata"]["name"]
            listed = any(ref.get("uid") == uid for ref in active)
            finished = finished_type(job)
            if not listed and finished is None:
                self.event(
                    cronjob,
                    WARNING,
                    "UnexpectedJob",
                    f"Saw a job that the controller did not create or forgot: {name}",
                )
            elif listed and finished is not None:
                active[:] = [ref for ref in active if ref.get("uid") != uid]
                self.event(
                    cronjob, NORMAL, "SawCompletedJob", f"Saw completed job: {name}, condition: {finished}"
                )
            elif finished == COMPLETE:
                completed = (job.get("status") or {}).get("completionTime")
                last = status.get("lastSuccessfulTime")
                if completed and (last is None or (parse_time(completed) or 0) > (parse_time(last) or 0)):
                    status["lastSuccessfulTime"] = completed
        children = {job["metadata"]["uid"] for job in jobs}
        for ref in list(active):
            if ref.get("uid") in children:
                continue
            if (
                self.context.store.get(self.jobs.storage_key, cronjob["metadata"]["namespace"], ref["name"])
                is None
            ):
                self.event(cronjob, NORMAL, "MissingJob", f"Active job went missing: {ref['name']}")
                active.remove(ref)

    def _schedule(self, cronjob: JsonObject) -> CronSchedule | None:
        spec = cronjob["spec"]
        zone = spec.get("timeZone")
        if zone:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                self.event(
                    cronjob,
                    WARNING,
                    "UnknownTimeZone",
                    f'invalid timeZone: "{zone}": unknown time zone {zone}',
                )
                return None
        try:
            return parse_cron(spec.get("schedule", ""), zone)
        except CronParseError as err:
            self.event(
                cronjob,
                WARNING,
                "UnparseableSchedule",
                f'unparseable schedule: "{spec.get("schedule", "")}" : {err}',
            )
            return None

    def _start(self, cronjob: JsonObject, name: str, scheduled: float) -> bool:
        """Create the job for `scheduled` and list it as active; False when there is nothing to record."""
        meta, template = cronjob["metadata"], cronjob["spec"].get("jobTemplate") or {}
        template_meta = template.get("metadata") or {}
        annotations = {
            **(template_meta.get("annotations") or {}),
            SCHEDULED_TIMESTAMP: _rfc3339_in(scheduled, cronjob["spec"].get("timeZone")),
        }
        job_meta = {
            "name": name,
            "namespace": meta["namespace"],
            "labels": dict(template_meta.get("labels") or {}),
            "annotations": annotations,
            "ownerReferences": [controller_ref(cronjob)],
        }
        job: JsonObject = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": job_meta,
            "spec": clone(template.get("spec") or {}),
        }
        active = cronjob["status"].setdefault("active", [])
        try:
            created = self.objects.create_owned(self.jobs, job)
        except StatusError as err:
            if err.reason == "AlreadyExists":
                # Made by someone else, or already listed: nothing more to record.
                existing = self.context.store.get(self.jobs.storage_key, meta["namespace"], name)
                owner = controller_of(existing) if existing is not None else None
                if (
                    existing is None
                    or owner is None
                    or owner.get("uid") != meta["uid"]
                    or any(ref.get("uid") == existing["metadata"]["uid"] for ref in active)
                ):
                    return False
                created = existing
            elif namespace_terminating(err):
                return False
            else:
                self.event(cronjob, WARNING, "FailedCreate", f"Error creating job: {err.message}")
                raise SyncError(err.message) from err
        else:
            self.event(cronjob, NORMAL, "SuccessfulCreate", f"Created job {name}")
        active.append(_job_ref(created))
        return True

    def _cleanup_finished(self, cronjob: JsonObject, jobs: list[JsonObject]) -> None:
        """Delete the oldest finished jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit."""
        spec = cronjob["spec"]
        for outcome, limit in (
            (COMPLETE, spec.get("successfulJobsHistoryLimit")),
            (FAILED, spec.get("failedJobsHistoryLimit")),
        ):
            if limit is None:
                continue
            finished = sorted((job for job in jobs if finished_type(job) == outcome), key=_start_order)
            for job in finished[: max(0, len(finished) - int(limit))]:
                self._delete_job(cronjob, job["metadata"]["name"], job["metadata"]["uid"])

    def _delete_job(self, cronjob: JsonObject, name: str, uid: str) -> None:
        try:
            self.objects.delete(
                self.jobs,
                cronjob["metadata"]["namespace"],
                name,
                DeleteOptions(propagation_policy="Background"),
            )
        except StatusError as err:
            self.event(cronjob, WARNING, "FailedDelete", f"Deleted job: {err.message}")
            return
        status = cronjob.setdefault("status", {})
        status["active"] = [ref for ref in status.get("active") or [] if ref.get("uid") != uid]
        self.event(cronjob, NORMAL, "SuccessfulDelete", f"Deleted job {name}")


def _start_order(job: JsonObject) -> tuple[bool, float, str]:
    """byJobStartTime: started jobs first, earliest first; ties by name."""
    started = parse_time((job.get("status") or {}).get("startTime"))
    return (started is None, started or 0.0, job["metadata"]["name"])
