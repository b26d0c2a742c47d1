"""Jobs and CronJobs (pkg/apis/batch/validation)."""

from __future__ import annotations

import re
from typing import Final

from .apps import selector_mismatch, selector_transition
from .cron import CronParseError, load_zone, parse_cron
from .errors import Errors, GoEnum, child, invalid, not_supported, required
from .fields import (
    JsonObject,
    as_int,
    as_list,
    as_map,
    as_text,
    non_negative,
    semantic,
    semantically_equal,
    spec_of,
    str_map,
)
from .formats import is_dns1123_label
from .labels import selector_parses, selector_value, validate_label_selector
from .metadata import IMMUTABLE
from .pod_updates import defaulted_template
from .pods import validate_pod_template

_JOB_GENERATED_LABELS: Final = frozenset(
    {"controller-uid", "job-name", "batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name"}
)
_JOB_NON_NEGATIVE: Final = (
    "parallelism",
    "completions",
    "activeDeadlineSeconds",
    "backoffLimit",
    "ttlSecondsAfterFinished",
    "backoffLimitPerIndex",
    "maxFailedIndexes",
)
_MAX_INDEXED_PARALLELISM: Final = 100_000


def _validate_job_spec_body(spec: JsonObject, path: str) -> Errors:
    """validateJobSpec: everything but the selector."""
    errs: Errors = []
    for name in _JOB_NON_NEGATIVE:
        errs += non_negative(child(path, name), spec.get(name))
    if spec.get("maxFailedIndexes") is not None and spec.get("backoffLimitPerIndex") is None:
        errs.append(required(child(path, "backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
    mode = as_text(spec.get("completionMode")) or "NonIndexed"
    if mode not in ("NonIndexed", "Indexed"):
        errs.append(not_supported(child(path, "completionMode"), mode, ["NonIndexed", "Indexed"]))
    if mode == "Indexed":
        if spec.get("completions") is None:
            errs.append(required(child(path, "completions"), "when completion mode is Indexed"))
        parallelism = as_int(spec.get("parallelism"))
        if parallelism is not None and parallelism > _MAX_INDEXED_PARALLELISM:
            errs.append(
                invalid(
                    child(path, "parallelism"),
                    parallelism,
                    "must be less than or equal to 100000 when completion mode is Indexed",
                )
            )
    else:
        for name in ("backoffLimitPerIndex", "maxFailedIndexes"):
            if as_int(spec.get(name)) is not None:
                errs.append(invalid(child(path, name), spec[name], "requires indexed completion mode"))
    replacement = spec.get("podReplacementPolicy")
    if replacement is not None:
        allowed = (
            ["Failed"] if spec.get("podFailurePolicy") is not None else ["Failed", "TerminatingOrFailed"]
        )
        if replacement not in allowed:
            errs.append(not_supported(child(path, "podReplacementPolicy"), as_text(replacement), allowed))
    template_path = child(path, "template")
    template = as_map(spec.get("template"))
    errs += validate_pod_template(template, template_path)
    restart_policy = as_text(as_map(template.get("spec")).get("restartPolicy"))
    if restart_policy in ("Always", ""):  # "" is what defaulting turns into Always
        errs.append(
            required(child(template_path, "spec", "restartPolicy"), 'valid values: "OnFailure", "Never"')
        )
    elif restart_policy not in ("OnFailure", "Never"):
        errs.append(
            not_supported(
                child(template_path, "spec", "restartPolicy"), restart_policy, ["OnFailure", "Never"]
            )
        )
    elif spec.get("podFailurePolicy") is not None and restart_policy != "Never":
        errs.append(
            invalid(
                child(template_path, "spec", "restartPolicy"),
                GoEnum(restart_policy),
                'only "Never" is supported when podFailurePolicy is specified',
            )
        )
    return errs


def _validate_job_selector(spec: JsonObject) -> Errors:
    """ValidateJobSpec's selector part.

    Unless spec.manualSelector is true the registry generates the selector (and the matching
    template labels) before validating, so only a user selector that would not survive that
    generation is reported.
    """
    selector = spec.get("selector")
    if spec.get("manualSelector") is not True:
        requirements = [*str_map(as_map(selector).get("matchLabels"))]
        requirements += [
            as_text(as_map(e).get("key")) for e in as_list(as_map(selector).get("matchExpressions"))
        ]
        if any(key not in _JOB_GENERATED_LABELS for key in requirements):
            return [invalid("spec.selector", selector_value(selector), "`selector` not auto-generated")]
        return []
    errs = (
        [required("spec.selector")]
        if selector is None
        else validate_label_selector(as_map(selector), "spec.selector")
    )
    if selector_parses(selector):
        errs += selector_mismatch(selector, as_map(spec.get("template")), "spec.template", skip_empty=False)
    return errs


def validate_job(obj: JsonObject, old: JsonObject | None) -> Errors:
    spec = as_map(obj.get("spec"))
    errs = _validate_job_spec_body(spec, "spec")
    if old is None:
        errs += _validate_job_selector(spec)
    elif spec.get("selector") is not None or as_map(old.get("spec")).get("selector") is not None:
        # By now the selector was generated (or given), so it is checked like a manual one. A Job
        # stored without one was created where nothing generated it: there is nothing to check.
        errs += _validate_job_selector({**spec, "manualSelector": True})
    completions = as_int(spec.get("completions"))
    indexed = as_text(spec.get("completionMode")) == "Indexed"
    if old is None and indexed and completions is not None and completions > 0:
        name = as_text(as_map(obj.get("metadata")).get("name"))
        hostname = f"{name}-{completions - 1}"
        if is_dns1123_label(hostname):
            detail = f"will not able to create pod with invalid DNS label: {hostname}"
            errs.append(invalid("metadata.name", name, detail))
    return errs


_TIME_ZONE_PART: Final = re.compile(r"[A-Za-z.\-_0-9+]{1,14}")
_CRONJOB_NAME_LIMIT: Final = 52  # the controller appends an 11-character suffix to name Jobs


def _validate_time_zone(value: object, path: str) -> Errors:
    if value is None:
        return []
    zone = as_text(value)
    shown = GoEnum(zone)  # a *string marshals to a JSON string
    if not zone:
        return [invalid(path, shown, "timeZone must be nil or non-empty string")]
    if any(
        part in (".", "..") or part.startswith("-") or not _TIME_ZONE_PART.fullmatch(part)
        for part in zone.split("/")
    ):
        return [invalid(path, shown, f"unknown time zone {zone}")]
    if zone.lower() == "local":
        return [
            invalid(
                path,
                shown,
                "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
            )
        ]
    try:
        load_zone(zone)
    except CronParseError as err:
        return [invalid(path, shown, str(err))]
    return []


def validate_cron_job(obj: JsonObject, old: JsonObject | None) -> Errors:
    spec, old_spec = as_map(obj.get("spec")), as_map(as_map(old).get("spec"))
    errs: Errors = []
    schedule = as_text(spec.get("schedule"))
    if not schedule:
        errs.append(required("spec.schedule"))
    else:
        try:
            parse_cron(schedule)
        except CronParseError as err:
            errs.append(invalid("spec.schedule", schedule, str(err)))
        # A TZ prefix is tolerated only on objects that already had one.
        if "TZ" in as_text(old_spec.get("schedule")):
            if "TZ" in schedule and spec.get("timeZone") is not None:
                errs.append(
                    invalid(
                        "spec.schedule",
                        schedule,
                        "cannot use both timeZone field and TZ or CRON_TZ in schedule",
                    )
                )
        elif "TZ" in schedule:
            errs.append(
                invalid(
                    "spec.schedule",
                    schedule,
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                )
            )
    errs += non_negative("spec.startingDeadlineSeconds", spec.get("startingDeadlineSeconds"))
    if old is None or spec.get("timeZone") != old_spec.get("timeZone"):
        errs += _validate_time_zone(spec.get("timeZone"), "spec.timeZone")
    concurrency = as_text(spec.get("concurrencyPolicy")) or "Allow"
    if concurrency not in ("Allow", "Forbid", "Replace"):
        errs.append(not_supported("spec.concurrencyPolicy", concurrency, ["Allow", "Forbid", "Replace"]))
    job_spec = as_map(as_map(spec.get("jobTemplate")).get("spec"))
    errs += _validate_job_spec_body(job_spec, "spec.jobTemplate.spec")
    if job_spec.get("selector") is not None:
        errs.append(
            invalid(
                "spec.jobTemplate.spec.selector",
                selector_value(job_spec["selector"]),
                "`selector` will be auto-generated",
            )
        )
    if job_spec.get("manualSelector") is True:
        errs.append(not_supported("spec.jobTemplate.spec.manualSelector", True, ["nil", "false"]))
    for name in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        errs += non_negative(child("spec", name), spec.get(name))
    name = as_text(as_map(obj.get("metadata")).get("name"))
    if old is None and len(name) > _CRONJOB_NAME_LIMIT:
        errs.append(invalid("metadata.name", name, f"must be no more than {_CRONJOB_NAME_LIMIT} characters"))
    return errs


def _job_template_for_comparison(spec: JsonObject, old_spec: JsonObject, old: JsonObject) -> JsonObject:
    """The old template, with what a suspended, never-started Job may still change taken from the new one."""
    old_template = defaulted_template(as_map(old_spec.get("template")))
    if spec.get("suspend") is not True or as_map(old.get("status")).get("startTime") is not None:
        return old_template
    template = as_map(spec.get("template"))
    new_meta, new_pod = as_map(template.get("metadata")), as_map(template.get("spec"))
    meta = {**as_map(old_template.get("metadata"))}
    for name in ("labels", "annotations"):
        meta[name] = new_meta.get(name)
    pod = {**as_map(old_template.get("spec"))}
    for name in ("nodeSelector", "tolerations", "schedulingGates"):
        pod[name] = new_pod.get(name)
    pod["affinity"] = {
        **as_map(pod.get("affinity")),
        "nodeAffinity": as_map(new_pod.get("affinity")).get("nodeAffinity"),
    }
    return {**old_template, "metadata": meta, "spec": pod}


def job_transition(new: JsonObject, old: JsonObject) -> Errors:
    spec, old_spec = spec_of(new), spec_of(old)
    errs: Errors = []
    completions = as_int(spec.get("completions"))
    if completions != as_int(old_spec.get("completions")):
        if as_text(spec.get("completionMode")) != "Indexed":
            errs.append(invalid("spec.completions", completions, IMMUTABLE))
        elif completions is not None and completions != as_int(spec.get("parallelism")):
            errs.append(
                invalid(
                    "spec.completions", completions, "can only be modified in tandem with spec.parallelism"
                )
            )
    errs += selector_transition(new, old)
    template = defaulted_template(as_map(spec.get("template")))
    if not semantically_equal(template, _job_template_for_comparison(spec, old_spec, old)):
        errs.append(invalid("spec.template", semantic(as_map(spec.get("template"))), IMMUTABLE))
    defaults = {"completionMode": "NonIndexed"}
    for name in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy", "successPolicy"):
        value = spec.get(name, defaults.get(name))
        if not semantically_equal(value, old_spec.get(name, defaults.get(name))):
            errs.append(
                invalid(child("spec", name), GoEnum(value) if isinstance(value, str) else value, IMMUTABLE)
            )
    return errs
