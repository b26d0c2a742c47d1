"""Cost: workloads whose requests are far above what their pods use (metrics.k8s.io).

Requests reserve node capacity whether used or not; a large, steady gap is paid for and idle.
Without metrics this analyzer says nothing.
"""

from __future__ import annotations

from decimal import Decimal

from pilothouse.ai import evidence as ev
from pilothouse.ai.analyzers.common import TEMPLATED, container_path
from pilothouse.ai.analyzers.context import AnalysisContext
from pilothouse.ai.findings import Cause, Change, Evidence, Finding, Remediation
from pilothouse.ai.objects import (
    JsonObject,
    container_statuses,
    containers,
    d,
    format_cpu,
    format_memory,
    kind_of,
    pod_spec_of,
    quantity,
    resources_of,
    s,
)
from pilothouse.ai.snapshot import ClusterSnapshot

NAME = "cost"
# Flag only a big and material gap: requests at least 4x usage, and at least this much idle.
RATIO = Decimal(4)
MIN_IDLE = {"cpu": Decimal("0.25"), "memory": Decimal(256 * 1024 * 1024)}
# Proposed requests leave this much headroom over the measured usage.
HEADROOM = Decimal("1.5")


async def analyze(ctx: AnalysisContext) -> list[Finding]:
    snap = ctx.snapshot
    if snap.pod_metrics is None:
        return []
    findings = []
    for pods in snap.pods_by_root.values():
        running = [
            p
            for p in pods
            if d(p.get("status")).get("phase") == "Running"
            and all(cs.get("ready") is True for cs in container_statuses(p))
        ]
        if not running:
            continue
        root = snap.root_owner(running[0])
        finding = _workload(snap, root, running)
        if finding is not None:
            findings.append(finding)
    return findings


def _workload(snap: ClusterSnapshot, root: JsonObject, pods: list[JsonObject]) -> Finding | None:
    spec = pod_spec_of(root)
    gaps: list[tuple[str, str, Decimal, Decimal]] = []
    for container in containers(spec):
        name = s(container.get("name"))
        requests = resources_of(container)[0]
        for index, resource in enumerate(("cpu", "memory")):
            requested = quantity(requests.get(resource))
            if requested is None:
                continue
            samples = [
                u[index]
                for p in pods
                if (u := (snap.pod_usage(p) or {}).get(name)) is not None and u[index] is not None
            ]
            if len(samples) != len(pods) or not samples:
                continue  # usage unknown for some pod: no claim
            used = max(v for v in samples if v is not None)
            if requested >= used * RATIO and requested - used >= MIN_IDLE[resource]:
                gaps.append((name, resource, requested, used))
    if not gaps:
        return None
    fmt = {"cpu": format_cpu, "memory": format_memory}
    evidence: list[Evidence] = []
    changes = []
    resources: dict[str, dict[str, str]] = {}
    for name, resource, requested, used in gaps:
        proposed = fmt[resource](used * HEADROOM)
        evidence.append(
            ev.metric(
                root,
                f"{name}.{resource}",
                fmt[resource](used),
                (
                    f"container {name} requests {fmt[resource](requested)} of {resource} and uses at most"
                    f" {fmt[resource](used)} across {len(pods)} pod(s)"
                ),
            )
        )
        path = container_path(root, name)
        if path is not None:
            changes.append(
                Change(
                    path=f"{path}.resources.requests.{resource}",
                    current=fmt[resource](requested),
                    proposed=proposed,
                )
            )
        resources.setdefault(name, {})[resource] = proposed
    remediation = None
    if len(resources) == 1 and kind_of(root) in TEMPLATED and changes:
        ((only, lowered),) = resources.items()
        remediation = Remediation(
            operation="set_resources",
            target=ev.ref(root),
            description=(
                f"Lower the requests of container {only} to"
                f" {', '.join(f'{k} {v}' for k, v in lowered.items())} (measured usage x{HEADROOM})"
            ),
            changes=changes,
            params={"container": only, "resources": {"requests": lowered}},
            risk="medium",
            evidence_ids=[e.id for e in evidence],
        )
    text = "; ".join(f"{name} requests {fmt[r](req)} {r}, uses {fmt[r](used)}" for name, r, req, used in gaps)
    return ev.make_finding(
        analyzer=NAME,
        resource=root,
        cause=Cause.OVERPROVISIONED_REQUESTS,
        severity="low",
        category="cost",
        role="risk",
        summary=f"{ev.ref(root)} requests far more than it uses: {text}",
        evidence=evidence,
        related=pods[:10],
        recommend=[
            (
                "right_size_requests",
                remediation.description
                if remediation
                else "Lower the requests toward measured usage plus headroom",
            )
        ],
        remediation=remediation,
        confidence=0.7,
    )
