"""Jobs over their backoff limit or deadline (with the failing container's exit code and log
line), and CronJobs that are suspended or have a schedule cron cannot parse."""

from __future__ import annotations

import re

from pilothouse.ai import evidence as ev
from pilothouse.ai import logpatterns
from pilothouse.ai.analyzers.context import AnalysisContext
from pilothouse.ai.findings import Cause, Evidence, Finding
from pilothouse.ai.objects import (
    JsonObject,
    condition,
    container_statuses,
    d,
    i,
    meta,
    name_of,
    s,
)

NAME = "jobs"


async def analyze(ctx: AnalysisContext) -> list[Finding]:
    snap = ctx.snapshot
    findings = []
    for job in snap.jobs:
        finding = await _job(ctx, job)
        if finding is not None:
            findings.append(finding)
    for cronjob in snap.cronjobs:
        findings.extend(_cronjob(cronjob))
    return findings


async def _job(ctx: AnalysisContext, job: JsonObject) -> Finding | None:
    snap = ctx.snapshot
    failed_condition = condition(job, "Failed")
    status = d(job.get("status"))
    failed = i(status.get("failed"))
    if (failed_condition is None or failed_condition.get("status") != "True") and failed == 0:
        return None
    if condition(job, "Complete") is not None and d(condition(job, "Complete")).get("status") == "True":
        return None
    spec = d(job.get("spec"))
    limit = i(spec.get("backoffLimit"), 6)
    evidence: list[Evidence] = []
    reason = s(d(failed_condition).get("reason"))
    if failed_condition is not None:
        evidence.append(
            ev.field(
                job,
                "status.conditions[Failed]",
                {k: failed_condition.get(k) for k in ("status", "reason", "message")},
                quote=f"Failed=True ({reason}): {s(failed_condition.get('message'))}",
            )
        )
    evidence.extend(ev.event(e) for e in snap.events_for(job, warnings_only=True)[-1:])
    evidence.append(
        ev.field(job, "status.failed", failed, quote=f"status.failed: {failed} (spec.backoffLimit: {limit})")
    )
    pods = sorted(snap.pods_of(job), key=lambda p: s(meta(p).get("creationTimestamp")))
    failing = [p for p in pods if d(p.get("status")).get("phase") == "Failed"] or pods
    why = await _why_failed(ctx, failing[-1]) if failing else None
    said = ""
    if why is not None:
        evidence.extend(why[1])
        said = f": {why[0]}"
    related: list[JsonObject] = [*snap.owner_chain(job), *pods]
    if reason == "BackoffLimitExceeded":
        cause, summary = (
            Cause.JOB_BACKOFF_LIMIT_EXCEEDED,
            (
                f"{ev.ref(job)} failed after {failed} attempt{'s' if failed != 1 else ''} (backoffLimit"
                f" {limit}){said}"
            ),
        )
    elif reason == "DeadlineExceeded":
        cause, summary = (
            Cause.JOB_DEADLINE_EXCEEDED,
            f"{ev.ref(job)} ran past its activeDeadlineSeconds ({spec.get('activeDeadlineSeconds')}s){said}",
        )
    elif failed_condition is not None:
        cause, summary = Cause.JOB_FAILED, f"{ev.ref(job)} failed ({reason}){said}"
    else:
        cause, summary = (
            Cause.JOB_FAILED,
            (
                f"{ev.ref(job)} has {failed} failed attempt{'s' if failed != 1 else ''} so far (backoffLimit"
                f" {limit}){said}"
            ),
        )
    done = failed_condition is not None
    return ev.make_finding(
        analyzer=NAME,
        resource=job,
        cause=cause,
        severity="high" if done else "medium",
        category="health",
        summary=summary,
        evidence=evidence,
        related=related,
        recommend=[
            ("fix_job_failure", f"Fix what the failing attempt reports{said or ' (see its logs)'}"),
            ("rerun_job", f"Then re-create {ev.ref(job)}: a failed Job does not retry by itself"),
        ],
        confidence=0.95 if done else 0.7,
    )


async def _why_failed(ctx: AnalysisContext, pod: JsonObject) -> tuple[str, list[Evidence]] | None:
    """The failing container's exit code and its most telling log line."""
    for init in (True, False):
        for index, cs in enumerate(container_statuses(pod, init=init)):
            state = d(cs.get("state"))
            terminated = d(state.get("terminated")) or d(d(cs.get("lastState")).get("terminated"))
            code = i(terminated.get("exitCode"))
            if not terminated or code == 0:
                continue
            name = s(cs.get("name"))
            where = "state" if state.get("terminated") else "lastState"
            statuses = "initContainerStatuses" if init else "containerStatuses"
            path = f"status.{statuses}[{index}].{where}.terminated"
            evidence = [
                ev.field(
                    pod,
                    path,
                    {"reason": terminated.get("reason"), "exitCode": code},
                    quote=(
                        f"pod {name_of(pod)} container {name}: reason={s(terminated.get('reason'))}"
                        f" exitCode={code}"
                    ),
                )
            ]
            text = f"container {name} exits {code}"
            for previous in (False, True):
                logs = await ctx.logs(pod, name, previous=previous)
                match = logpatterns.most_informative_error(logs.lines) if logs is not None else None
                if logs is not None and match is not None:
                    evidence.append(ev.log(pod, logs, match.index))
                    text += f' — "{ev.clip(match.line.strip(), 160)}"'
                    break
            return text, evidence
    return None


def _cronjob(cronjob: JsonObject) -> list[Finding]:
    spec = d(cronjob.get("spec"))
    findings = []
    schedule = s(spec.get("schedule"))
    problem = cron_problem(schedule)
    if problem is not None:
        findings.append(
            ev.make_finding(
                analyzer=NAME,
                resource=cronjob,
                cause=Cause.CRONJOB_INVALID_SCHEDULE,
                severity="high",
                category="health",
                summary=f"{ev.ref(cronjob)}'s schedule {schedule!r} is invalid ({problem}); it never runs",
                evidence=[ev.field(cronjob, "spec.schedule", schedule)],
                recommend=[
                    (
                        "fix_cron_schedule",
                        (
                            f"Correct spec.schedule {schedule!r}: five fields, minute hour day-of-month month"
                            " day-of-week"
                        ),
                    )
                ],
                confidence=0.9,
            )
        )
    if spec.get("suspend") is True:
        findings.append(
            ev.make_finding(
                analyzer=NAME,
                resource=cronjob,
                cause=Cause.CRONJOB_SUSPENDED,
                severity="low",
                category="reliability",
                role="risk",
                summary=f"{ev.ref(cronjob)} is suspended: its schedule {schedule!r} does not run",
                evidence=[ev.field(cronjob, "spec.suspend", True)],
                recommend=[
                    ("resume_cronjob", f"Set spec.suspend to false on {ev.ref(cronjob)} if it should run")
                ],
                confidence=0.95,
            )
        )
    return findings


_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    (
        "month",
        1,
        12,
        {
            m: n
            for n, m in enumerate(
                ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
            )
        },
    ),
    ("day of week", 0, 7, {w: n for n, w in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}),
)
_ITEM = re.compile(r"^(?P<base>\*|\?|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/(?P<step>[0-9]+))?$")


def cron_problem(schedule: str) -> str | None:
    """What is wrong with a CronJob schedule (the standard five fields, the @ macros, an
    optional CRON_TZ=/TZ= prefix), or None when it is valid."""
    text = schedule.strip()
    if text.startswith(("CRON_TZ=", "TZ=")):
        parts = text.split(None, 1)
        text = parts[1] if len(parts) == 2 else ""
    if not text:
        return "empty schedule"
    if text.startswith("@"):
        return None if text in _MACROS else f"unknown macro {text}"
    fields = text.split()
    if len(fields) != 5:
        return f"expected 5 fields, found {len(fields)}"
    for value, (label, low, high, names) in zip(fields, _FIELDS, strict=True):
        for item in value.split(","):
            match = _ITEM.match(item)
            if match is None:
                return f"invalid {label} {item!r}"
            if match["step"] is not None and int(match["step"]) == 0:
                return f"zero step in {label} {item!r}"
            base = match["base"]
            if base in ("*", "?"):
                if base == "?" and label not in ("day of month", "day of week"):
                    return f"'?' is not allowed in the {label} field"
                continue
            for bound in base.split("-"):
                number = names.get(bound.upper()) if not bound.isdigit() else int(bound)
                if number is None or not low <= number <= high:
                    return f"{label} {bound!r} out of range {low}-{high}"
    return None
