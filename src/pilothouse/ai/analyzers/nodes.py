"""Nodes: NotReady (the kubelet stopped reporting, or reports itself not ready), memory, disk
and PID pressure, and cordoned nodes."""

from __future__ import annotations

from pilothouse.ai import evidence as ev
from pilothouse.ai.analyzers.common import describe_taint
from pilothouse.ai.analyzers.context import AnalysisContext
from pilothouse.ai.findings import Cause, Change, Evidence, Finding, Remediation
from pilothouse.ai.objects import JsonObject, condition, d, dicts, name_of, s
from pilothouse.ai.snapshot import ClusterSnapshot

NAME = "nodes"
PRESSURE = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")


async def analyze(ctx: AnalysisContext) -> list[Finding]:
    snap = ctx.snapshot
    findings: list[Finding] = []
    for node in snap.nodes:
        findings.extend(_node(snap, node))
    return findings


def _node(snap: ClusterSnapshot, node: JsonObject) -> list[Finding]:
    findings = []
    name = name_of(node)
    pods = snap.pods_by_node.get(name, [])
    owners = list({id(snap.root_owner(p)): snap.root_owner(p) for p in pods}.values())
    ready = condition(node, "Ready")
    taints = list(dicts(d(node.get("spec")).get("taints")))
    unschedulable = d(node.get("spec")).get("unschedulable") is True
    if ready is None or ready.get("status") != "True":
        status = s(d(ready).get("status")) or "Unknown"
        reason, message = s(d(ready).get("reason")), s(d(ready).get("message"))
        since = s(d(ready).get("lastTransitionTime"))
        evidence: list[Evidence] = [
            ev.field(
                node,
                "status.conditions[Ready]",
                {
                    k: d(ready).get(k)
                    for k in ("status", "reason", "message", "lastHeartbeatTime", "lastTransitionTime")
                },
                quote=f"Ready={status} ({reason}) since {since}: {message}",
            )
        ]
        if taints:
            evidence.append(
                ev.field(
                    node,
                    "spec.taints",
                    taints,
                    quote=f"taints: {', '.join(describe_taint(t) for t in taints)}",
                )
            )
        evidence.extend(ev.event(e) for e in snap.events_for(node)[-2:])
        terminating = [p for p in pods if d(p.get("metadata")).get("deletionTimestamp")]
        stuck = f"; {len(terminating)} of its pods are stuck Terminating" if terminating else ""
        remediation = None
        if not unschedulable:
            remediation = Remediation(
                operation="cordon",
                target=ev.ref(node),
                description=f"Cordon node {name} so that nothing is scheduled onto it while it is not ready",
                changes=[Change(path="spec.unschedulable", current=False, proposed=True)],
                risk="low",
                evidence_ids=[e.id for e in evidence],
            )
        findings.append(
            ev.make_finding(
                analyzer=NAME,
                resource=node,
                cause=Cause.NODE_NOT_READY,
                severity="critical",
                category="health",
                summary=(
                    f"Node {name} is not ready (Ready={status}, {reason}: {message}) since {since};"
                    f" {len(pods)} pods are scheduled on it{stuck}"
                ),
                evidence=evidence,
                related=[*owners, *pods],
                recommend=[
                    (
                        "check_kubelet",
                        (
                            f"Check node {name}: is the machine up, is the kubelet running, can it reach the"
                            " API server?"
                        ),
                    ),
                    (
                        "cordon_node",
                        (
                            f"Cordon {name} while it is investigated; its pods are rescheduled elsewhere"
                            " after the eviction timeout"
                        ),
                    ),
                ],
                remediation=remediation,
                confidence=0.95,
            )
        )
    for kind in PRESSURE:
        pressure = condition(node, kind)
        if pressure is None or pressure.get("status") != "True":
            continue
        message = s(pressure.get("message"))
        findings.append(
            ev.make_finding(
                analyzer=NAME,
                resource=node,
                cause=Cause.NODE_PRESSURE,
                severity="high",
                category="performance",
                summary=(
                    f"Node {name} reports {kind} ({s(pressure.get('reason'))}: {message}); the kubelet evicts"
                    " pods and refuses new ones"
                ),
                evidence=[
                    ev.field(
                        node,
                        f"status.conditions[{kind}]",
                        {k: pressure.get(k) for k in ("status", "reason", "message")},
                        quote=f"{kind}=True ({s(pressure.get('reason'))}): {message}",
                    )
                ],
                related=owners,
                recommend=[
                    (
                        "relieve_node_pressure",
                        f"Free {kind.removesuffix('Pressure').lower()} on {name} or move workloads off it",
                    )
                ],
                confidence=0.9,
            )
        )
    if unschedulable and ready is not None and ready.get("status") == "True":
        findings.append(
            ev.make_finding(
                analyzer=NAME,
                resource=node,
                cause=Cause.NODE_CORDONED,
                severity="info",
                category="reliability",
                role="risk",
                summary=f"Node {name} is cordoned (spec.unschedulable): no new pods are scheduled onto it",
                evidence=[ev.field(node, "spec.unschedulable", True)],
                recommend=[("uncordon_node", f"Uncordon {name} when its maintenance is over")],
                remediation=Remediation(
                    operation="uncordon",
                    target=ev.ref(node),
                    description=f"Uncordon node {name}",
                    changes=[Change(path="spec.unschedulable", current=True, proposed=False)],
                    risk="low",
                ),
                confidence=0.9,
            )
        )
    return findings
