"""Investigations of one resource, and full-cluster scans.

``investigate`` reads the resource's namespace (plus the cluster-scoped nodes, volumes and
classes), works out what surrounds the resource (owners up and down, sibling pods, their node,
the Services selecting them, the config and ServiceAccount they use, HPAs, NetworkPolicies),
runs every analyzer with the logs of the pods in that scope, and ranks what they found into a
:class:`Diagnosis`: the most likely cause first, with a summary citing its evidence,
recommendations and the concrete changes (remediations) an action could apply.

``scan`` reads the whole cluster and runs the same analyzers for insights, reading logs only of
a bounded number of failing pods so that its cost stays linear in the cluster's size.

No LLM is involved: everything here is deterministic, and every claim cites what the cluster
showed. A later LLM layer can take a Diagnosis as its grounding.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Collection, Sequence

from pydantic import BaseModel, Field

from pilothouse.ai.analyzers import AnalysisContext, run_analyzers
from pilothouse.ai.analyzers.pods import looks_unhealthy
from pilothouse.ai.findings import (
    Category,
    Finding,
    Recommendation,
    Remediation,
    ResourceRef,
    Severity,
)
from pilothouse.ai.objects import JsonObject, d, dicts, name_of, namespace_of, uid_of
from pilothouse.ai.ranking import (
    build_scope,
    correlate,
    follow_dependencies,
    pods_to_read,
    rank,
    scan_order,
)
from pilothouse.ai.snapshot import ClusterSnapshot, gather_snapshot
from pilothouse.events.service import escape_field_value
from pilothouse.kube.ops import ClusterOps, KubeApiError, ListQuery
from pilothouse.kube.resolver import ResourceResolver

Progress = Callable[[int, str], None]
# Logs read per investigation: every pod in scope, within reason.
INVESTIGATION_LOG_BUDGET = 40
# Logs read per scan: failing pods only, and only so many of them.
SCAN_LOG_BUDGET = 50
MAX_RECOMMENDATIONS = 8
MAX_REMEDIATIONS = 5


class TargetNotFound(LookupError):
    """The resource to investigate does not exist (and never left a trace in the cluster)."""

    def __init__(self, ref: ResourceRef) -> None:
        super().__init__(f"{ref} not found")
        self.ref = ref


class Diagnosis(BaseModel):
    """The outcome of an investigation: ranked findings and what to do about them."""

    target: ResourceRef
    severity: Severity
    category: Category | None = None
    # The top finding when it is a cause (not merely a symptom or a risk).
    root_cause: Finding | None = None
    findings: list[Finding] = Field(default_factory=list)
    findings_summary: str
    recommendations: list[Recommendation] = Field(default_factory=list)
    remediations: list[Remediation] = Field(default_factory=list)
    # The resources examined, nearest first.
    scope: list[ResourceRef] = Field(default_factory=list)
    # Seconds: list (reading the cluster), logs (cumulative over concurrent reads), analysis, total.
    timings: dict[str, float] = Field(default_factory=dict)
    log_requests: int = 0
    # Collections that could not be read (forbidden, not served): the analysis saw less.
    errors: dict[str, str] = Field(default_factory=dict)


class ScanReport(BaseModel):
    findings: list[Finding]
    pods: int
    timings: dict[str, float]
    log_requests: int
    errors: dict[str, str] = Field(default_factory=dict)


def _report(progress: Progress | None, percent: int, message: str) -> None:
    if progress is not None:
        progress(percent, message)


async def investigate(
    ops: ClusterOps,
    resolver: ResourceResolver,
    ref: ResourceRef,
    *,
    progress: Progress | None = None,
) -> Diagnosis:
    """Investigate one resource (``ref.kind`` may be a kind, plural or short name)."""
    started = time.perf_counter()
    _report(progress, 5, f"resolving {ref}")
    resource = await resolver.resolve(ref.kind)
    kind = resource.kind
    namespace = (ref.namespace or "default") if resource.namespaced else None
    target_ref = ResourceRef(kind=kind, namespace=namespace, name=ref.name)
    namespaces = await _namespaces_for(ops, resolver, target_ref, resource.namespaced)
    _report(
        progress, 15, "reading the cluster" + (f" (namespace {', '.join(namespaces)})" if namespaces else "")
    )
    snapshot = await gather_snapshot(ops, resolver, namespaces=namespaces)
    target = snapshot.get(kind, namespace, ref.name)
    if target is None:
        try:
            target = await ops.get(resource, ref.name, namespace)
        except KubeApiError as err:
            if err.status == 404:
                raise TargetNotFound(target_ref) from err
            raise
        target.setdefault("kind", kind)
    target_ref = ResourceRef.of(target, kind)
    _report(progress, 40, "analyzing (objects, events, logs, metrics)")
    scope = build_scope(snapshot, target)
    ctx = AnalysisContext(snapshot, log_pods=scope.log_pods, log_budget=INVESTIGATION_LOG_BUDGET)
    analysis_started = time.perf_counter()
    findings = correlate(await run_analyzers(ctx))
    # What the first pass found may point further (a dependency a log cannot reach, a claim a
    # pod waits for): widen the scope along it, and look again with the logs found there. The
    # log cache makes the second pass cost only the new reads.
    read_before = set(scope.log_pods)
    follow_dependencies(scope, findings)
    wider = (pods_to_read(scope, 2) | scope.log_pods) - read_before
    if wider:
        _report(progress, 65, "following dependencies")
        scope.log_pods.update(wider)
        findings = correlate(await run_analyzers(ctx))
    _report(progress, 85, "ranking causes")
    ranked = rank(findings, scope)
    analysis_seconds = time.perf_counter() - analysis_started
    diagnosis = summarize(target_ref, ranked)
    logs = snapshot.logs
    diagnosis.scope = scope.refs()
    diagnosis.timings = {
        "list": round(snapshot.list_seconds, 4),
        "logs": round(logs.seconds if logs else 0.0, 4),
        "analysis": round(analysis_seconds, 4),
        "total": round(time.perf_counter() - started, 4),
    }
    diagnosis.log_requests = logs.requests if logs else 0
    diagnosis.errors = dict(snapshot.errors)
    _report(progress, 100, "done")
    return diagnosis


async def _namespaces_for(
    ops: ClusterOps, resolver: ResourceResolver, ref: ResourceRef, namespaced: bool
) -> list[str] | None:
    """What to read: the resource's namespace; for a node, the namespaces of its pods; for other
    cluster-scoped kinds, everything."""
    if namespaced:
        return [ref.namespace or "default"]
    if ref.kind == "Namespace":
        return [ref.name]
    if ref.kind == "Node":
        pods = await resolver.kind("Pod", "")
        if pods is None:
            return []
        query = ListQuery(field_selector=f"spec.nodeName={escape_field_value(ref.name)}")
        page = await ops.list(pods, query)
        # Node events are written to the default namespace.
        return sorted({"default", *(namespace_of(pod) for pod in page.items)})
    return None


def summarize(target: ResourceRef, ranked: Sequence[Finding]) -> Diagnosis:
    """The Diagnosis of ranked findings: summary paragraph, recommendations, remediations."""
    if not ranked:
        return Diagnosis(
            target=target,
            severity="info",
            findings_summary=(
                f"No problem found for {target}: no analyzer found a failing pod, a missing reference, "
                "an unready endpoint or a failing dependency around it."
            ),
        )
    top = ranked[0]
    root_cause = top if top.role == "cause" else None
    recommendations: list[Recommendation] = []
    seen: set[tuple[str, str]] = set()
    for finding in ranked:
        for item in finding.recommendations:
            if (item.action, item.details) in seen:
                continue
            seen.add((item.action, item.details))
            recommendations.append(
                Recommendation(priority=len(recommendations) + 1, action=item.action, details=item.details)
            )
        if len(recommendations) >= MAX_RECOMMENDATIONS:
            break
    remediations = [f.remediation for f in ranked if f.remediation is not None and f.role != "risk"][
        :MAX_REMEDIATIONS
    ]
    if not remediations and top.remediation is not None:
        remediations = [top.remediation]
    return Diagnosis(
        target=target,
        severity=top.severity,
        category=top.category,
        root_cause=root_cause,
        findings=list(ranked),
        findings_summary=_paragraph(target, ranked),
        recommendations=recommendations[:MAX_RECOMMENDATIONS],
        remediations=remediations,
    )


def _paragraph(target: ResourceRef, ranked: Sequence[Finding]) -> str:
    """One paragraph naming the top cause and citing its evidence by id."""
    top = ranked[0]
    lead = {
        "cause": "Most likely cause",
        "symptom": "No specific cause found; the clearest symptom",
        "risk": "Nothing is failing; the most notable risk",
    }[top.role]
    cited = "; ".join(f"{e.quote} [{e.id}]" for e in top.evidence[:4])
    parts = [f"{lead} ({top.cause.value}, {top.severity}) for {target}: {top.summary}."]
    if cited:
        parts.append(f"Evidence: {cited}.")
    explained = [f for f in ranked[1:] if f.role == "symptom"][:3]
    if explained and top.role == "cause":
        parts.append("It explains what else is seen: " + "; ".join(f.summary for f in explained) + ".")
    others = [f for f in ranked[1:] if f.role == "cause"][:2]
    if others:
        parts.append(
            "Other causes found nearby: " + "; ".join(f"{f.summary} ({f.cause.value})" for f in others) + "."
        )
    if top.remediation is not None:
        parts.append(f"Proposed change: {top.remediation.description}.")
    elif top.recommendations:
        parts.append(f"Recommended: {top.recommendations[0].details}.")
    return " ".join(parts)


async def scan_report(
    ops: ClusterOps, resolver: ResourceResolver, *, log_budget: int = SCAN_LOG_BUDGET
) -> ScanReport:
    """A full-cluster scan, with its timings (list and analysis measured apart)."""
    snapshot = await gather_snapshot(ops, resolver)
    return await analyze_snapshot(snapshot, log_budget=log_budget)


async def analyze_snapshot(
    snapshot: ClusterSnapshot,
    *,
    log_budget: int = SCAN_LOG_BUDGET,
    analyzers: Collection[str] | None = None,
) -> ScanReport:
    """Run the analyzers over an already gathered snapshot: the scan without the listing."""
    failing = {uid_of(pod) for pod in snapshot.pods if looks_unhealthy(pod)}
    ctx = AnalysisContext(snapshot, log_pods=failing, log_budget=log_budget)
    started = time.perf_counter()
    # Analysis allocates many small objects and creates no cycles: collect once, afterwards.
    enabled = gc.isenabled()
    gc.disable()
    try:
        findings = correlate(await run_analyzers(ctx, analyzers))
    finally:
        if enabled:
            gc.enable()
    findings.sort(key=scan_order)
    logs = snapshot.logs
    return ScanReport(
        findings=findings,
        pods=len(snapshot.pods),
        timings={
            "list": round(snapshot.list_seconds, 4),
            "logs": round(logs.seconds if logs else 0.0, 4),
            "analysis": round(time.perf_counter() - started, 4),
        },
        log_requests=logs.requests if logs else 0,
        errors=dict(snapshot.errors),
    )


async def scan(ops: ClusterOps, resolver: ResourceResolver) -> list[Finding]:
    """Every finding in the cluster (insights), the most severe first."""
    return (await scan_report(ops, resolver)).findings


def pods_of(snapshot: ClusterSnapshot, obj: JsonObject) -> list[JsonObject]:
    """The pods an object stands for in an investigation: a workload's own pods, a node's, a
    claim's users, the pods a Service or NetworkPolicy selects."""
    kind = str(obj.get("kind") or "")
    if kind == "Node":
        return snapshot.pods_by_node.get(name_of(obj), [])
    if kind == "PersistentVolumeClaim":
        return snapshot.pods_using_claim(namespace_of(obj), name_of(obj))
    if kind == "Service":
        return snapshot.pods_selected_by(obj)
    if kind == "NetworkPolicy":
        return snapshot.pods_matching(namespace_of(obj), d(d(obj.get("spec")).get("podSelector")))
    if kind == "HorizontalPodAutoscaler":
        ref = d(d(obj.get("spec")).get("scaleTargetRef"))
        workload = snapshot.get(str(ref.get("kind") or ""), namespace_of(obj), str(ref.get("name") or ""))
        return snapshot.pods_of(workload) if workload is not None else []
    if kind in ("Role", "ClusterRole"):
        found: list[JsonObject] = []
        for binding in [*snapshot.rolebindings, *snapshot.clusterrolebindings]:
            role = d(binding.get("roleRef"))
            if role.get("kind") != kind or role.get("name") != name_of(obj):
                continue
            for subject in dicts(binding.get("subjects")):
                if subject.get("kind") == "ServiceAccount":
                    account_ns = str(subject.get("namespace") or namespace_of(binding))
                    found.extend(
                        pod
                        for pod in snapshot.pods_in(account_ns)
                        if (d(pod.get("spec")).get("serviceAccountName") or "default") == subject.get("name")
                    )
        return found
    return snapshot.pods_of(obj)
