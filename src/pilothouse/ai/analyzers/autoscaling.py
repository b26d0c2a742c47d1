"""HorizontalPodAutoscalers that cannot scale: missing metrics, a target without the resource
requests utilization is computed against, a missing scale target, or pinned at maxReplicas."""

from __future__ import annotations

import re
from decimal import Decimal

from pilothouse.ai import evidence as ev
from pilothouse.ai.analyzers.common import TEMPLATED, container_path
from pilothouse.ai.analyzers.context import AnalysisContext
from pilothouse.ai.findings import Cause, Change, Evidence, Finding, Remediation, ResourceRef
from pilothouse.ai.objects import (
    JsonObject,
    condition,
    containers,
    d,
    dicts,
    format_cpu,
    format_memory,
    i,
    kind_of,
    name_of,
    namespace_of,
    pod_spec_of,
    resources_of,
    s,
)
from pilothouse.ai.snapshot import ClusterSnapshot

NAME = "autoscaling"
_MISSING_REQUEST = re.compile(
    r"missing request for (?P<resource>\w+) in container (?P<container>\S+) of Pod (?P<pod>\S+)"
)


async def analyze(ctx: AnalysisContext) -> list[Finding]:
    snap = ctx.snapshot
    findings: list[Finding] = []
    for hpa in snap.hpas:
        findings.extend(_hpa(snap, hpa))
    return findings


def _resource_targets(hpa: JsonObject) -> list[str]:
    """The resources (cpu, memory) the HPA scales on as a utilization of the requests."""
    found = []
    for metric in dicts(d(hpa.get("spec")).get("metrics")):
        if metric.get("type") in ("Resource", "ContainerResource"):
            source = d(metric.get("resource") or metric.get("containerResource"))
            if d(source.get("target")).get("type") == "Utilization":
                found.append(s(source.get("name")))
    return found


def _hpa(snap: ClusterSnapshot, hpa: JsonObject) -> list[Finding]:
    namespace = namespace_of(hpa)
    spec, status = d(hpa.get("spec")), d(hpa.get("status"))
    target_ref = d(spec.get("scaleTargetRef"))
    target = snap.get(s(target_ref.get("kind")), namespace, s(target_ref.get("name")))
    ref = ResourceRef(kind=s(target_ref.get("kind")), namespace=namespace, name=s(target_ref.get("name")))
    able = condition(hpa, "AbleToScale")
    active = condition(hpa, "ScalingActive")
    events = snap.events_for(hpa, warnings_only=True)
    evidence: list[Evidence]
    if target is None and snap.knows(ref.kind, namespace) and ref.kind in TEMPLATED:
        evidence = [
            ev.field(hpa, "spec.scaleTargetRef", target_ref),
            ev.existence(ref, False, f"{ref}: not found"),
        ]
        if able is not None and able.get("status") == "False":
            evidence.append(
                ev.field(
                    hpa,
                    "status.conditions[AbleToScale]",
                    {k: able.get(k) for k in ("status", "reason", "message")},
                    quote=f"AbleToScale=False ({s(able.get('reason'))}): {s(able.get('message'))}",
                )
            )
        return [
            ev.make_finding(
                analyzer=NAME,
                resource=hpa,
                cause=Cause.HPA_MISSING_TARGET,
                severity="medium",
                category="performance",
                summary=f"HPA {namespace}/{name_of(hpa)} scales {ref}, which does not exist",
                evidence=evidence,
                recommend=[
                    (
                        "fix_scale_target",
                        "Point spec.scaleTargetRef at an existing workload, or delete the HPA",
                    )
                ],
                confidence=0.9,
            )
        ]
    findings = []
    utilization = _resource_targets(hpa)
    missing: dict[str, list[str]] = {}
    if target is not None:
        for resource in utilization:
            lacking = [
                s(c.get("name"))
                for c in containers(pod_spec_of(target))
                if resources_of(c)[0].get(resource) is None
            ]
            if lacking:
                missing[resource] = lacking
    failing = active is not None and active.get("status") == "False"
    metric_events = [
        e
        for e in events
        if s(e.get("reason")).startswith(
            (
                "FailedGetResourceMetric",
                "FailedGetPodsMetric",
                "FailedGetObjectMetric",
                "FailedGetExternalMetric",
                "FailedGetContainerResourceMetric",
            )
        )
    ]
    if failing or missing or metric_events:
        evidence = []
        if active is not None and failing:
            evidence.append(
                ev.field(
                    hpa,
                    "status.conditions[ScalingActive]",
                    {k: active.get(k) for k in ("status", "reason", "message")},
                    quote=f"ScalingActive=False ({s(active.get('reason'))}): {s(active.get('message'))}",
                )
            )
        evidence.extend(ev.event(e) for e in metric_events[-1:])
        text = " ".join([s(d(active).get("message")), *(s(e.get("message")) for e in metric_events[-1:])])
        request = _MISSING_REQUEST.search(text)
        for resource, lacking in missing.items():
            path = container_path(target, lacking[0]) if target is not None else None
            evidence.append(
                ev.field(
                    target or hpa,
                    f"{path}.resources.requests" if path else "spec",
                    {},
                    quote=f"{ref}: container {', '.join(lacking)} sets no {resource} request",
                )
            )
        current = status.get("currentReplicas")
        if missing or request:
            resource = request["resource"] if request else next(iter(missing))
            lacking = missing.get(resource) or ([request["container"]] if request else [])
            summary = (
                f"HPA {namespace}/{name_of(hpa)} scales {ref} on {resource} utilization, but container"
                f" {', '.join(lacking)} sets no {resource} request: "
                f"utilization cannot be computed and it stays at {current} replicas"
            )
            remediation = (
                _request_fix(snap, target, resource, lacking, evidence) if target is not None else None
            )
            recommend = [
                (
                    "set_resource_requests",
                    f"Set a {resource} request on container {', '.join(lacking)} of {ref}",
                )
            ]
            if remediation is not None:
                recommend[0] = ("set_resource_requests", remediation.description)
            confidence = 0.95
        else:
            summary = (
                f"HPA {namespace}/{name_of(hpa)} cannot get its metrics ({ev.clip(text.strip(), 160)}); it"
                f" does not scale {ref}"
            )
            remediation = None
            recommend = [
                (
                    "check_metrics_server",
                    "Check that metrics-server (or the custom metrics adapter) is installed and serving",
                )
            ]
            confidence = 0.8
        findings.append(
            ev.make_finding(
                analyzer=NAME,
                resource=hpa,
                cause=Cause.HPA_MISSING_METRICS,
                severity="medium",
                category="performance",
                summary=summary,
                evidence=evidence,
                related=[ref],
                recommend=recommend,
                remediation=remediation,
                confidence=confidence,
            )
        )
    limited = condition(hpa, "ScalingLimited")
    if limited is not None and limited.get("status") == "True" and limited.get("reason") == "TooManyReplicas":
        findings.append(
            ev.make_finding(
                analyzer=NAME,
                resource=hpa,
                cause=Cause.HPA_AT_MAX_REPLICAS,
                severity="medium",
                category="performance",
                summary=(
                    f"HPA {namespace}/{name_of(hpa)} wants more replicas than its maxReplicas"
                    f" ({i(spec.get('maxReplicas'))}): {ref} is capped"
                ),
                evidence=[
                    ev.field(
                        hpa,
                        "status.conditions[ScalingLimited]",
                        {k: limited.get(k) for k in ("status", "reason", "message")},
                        quote=f"ScalingLimited=True (TooManyReplicas): {s(limited.get('message'))}",
                    )
                ],
                related=[ref],
                recommend=[
                    ("raise_max_replicas", f"Raise maxReplicas of HPA {name_of(hpa)} if the cluster has room")
                ],
                confidence=0.85,
            )
        )
    return findings


def _request_fix(
    snap: ClusterSnapshot, target: JsonObject, resource: str, lacking: list[str], evidence: list[Evidence]
) -> Remediation | None:
    """Requests at the measured average usage: utilization then reads ~100% at today's load, so
    the HPA scales out rather than guessing. Without metrics there is nothing to compute from."""
    if kind_of(target) not in TEMPLATED or resource not in ("cpu", "memory"):
        return None
    samples: dict[str, list[Decimal]] = {name: [] for name in lacking}
    for pod in snap.pods_of(target):
        usage = snap.pod_usage(pod) or {}
        for name in lacking:
            value = usage.get(name, (None, None))[0 if resource == "cpu" else 1]
            if value is not None:
                samples[name].append(value)
    changes, resources = [], {}
    for name, values in samples.items():
        path = container_path(target, name)
        if not values or path is None:
            return None
        average = sum(values, Decimal(0)) / len(values)
        proposed = format_cpu(average) if resource == "cpu" else format_memory(average)
        evidence.append(
            ev.metric(
                target,
                f"{name}.{resource}",
                proposed,
                (
                    f"metrics.k8s.io: container {name} uses {proposed} of {resource} on average over"
                    f" {len(values)} pod(s)"
                ),
            )
        )
        changes.append(Change(path=f"{path}.resources.requests.{resource}", current=None, proposed=proposed))
        resources[name] = proposed
    if len(resources) != 1:
        return None
    ((container, proposed),) = resources.items()
    return Remediation(
        operation="set_resources",
        target=ev.ref(target),
        description=(
            f"Set the {resource} request of container {container} to {proposed} (its measured average usage)"
        ),
        changes=changes,
        params={"container": container, "resources": {"requests": {resource: proposed}}},
        risk="low",
        evidence_ids=[e.id for e in evidence],
    )
