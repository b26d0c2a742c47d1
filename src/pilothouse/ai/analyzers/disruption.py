"""PodDisruptionBudgets that allow no voluntary disruption at all (a drain would hang), or
that select no pods."""

from __future__ import annotations

from pilothouse.ai import evidence as ev
from pilothouse.ai.analyzers.context import AnalysisContext
from pilothouse.ai.findings import Cause, Finding
from pilothouse.ai.objects import d, i, name_of, namespace_of

NAME = "disruption"


async def analyze(ctx: AnalysisContext) -> list[Finding]:
    snap = ctx.snapshot
    findings = []
    for pdb in snap.pdbs:
        spec, status = d(pdb.get("spec")), d(pdb.get("status"))
        if "disruptionsAllowed" not in status:
            continue
        selector = d(spec.get("selector"))
        pods = snap.pods_matching(namespace_of(pdb), selector)
        expected = i(status.get("expectedPods"), len(pods))
        allowed = i(status.get("disruptionsAllowed"))
        healthy, desired = i(status.get("currentHealthy")), i(status.get("desiredHealthy"))
        owners = list({id(snap.root_owner(p)): snap.root_owner(p) for p in pods}.values())
        budget = (
            f"minAvailable {spec.get('minAvailable')}"
            if "minAvailable" in spec
            else f"maxUnavailable {spec.get('maxUnavailable')}"
        )
        if expected == 0 and not pods:
            findings.append(
                ev.make_finding(
                    analyzer=NAME,
                    resource=pdb,
                    cause=Cause.PDB_SELECTS_NOTHING,
                    severity="low",
                    category="reliability",
                    role="risk",
                    summary=(
                        f"PodDisruptionBudget {namespace_of(pdb)}/{name_of(pdb)} selects no pods: it protects"
                        " nothing"
                    ),
                    evidence=[ev.field(pdb, "spec.selector", selector)],
                    recommend=[
                        (
                            "fix_pdb_selector",
                            "Match the selector to the pods it should protect, or delete the PDB",
                        )
                    ],
                    confidence=0.8,
                )
            )
        elif allowed == 0 and healthy >= desired and expected > 0:
            # Not because pods are unhealthy: the budget itself forbids every eviction.
            findings.append(
                ev.make_finding(
                    analyzer=NAME,
                    resource=pdb,
                    cause=Cause.PDB_BLOCKS_DISRUPTION,
                    severity="medium",
                    category="reliability",
                    role="risk",
                    summary=(
                        f"PodDisruptionBudget {namespace_of(pdb)}/{name_of(pdb)} ({budget}) allows 0"
                        " disruptions with all "
                        f"{healthy} of {expected} pods healthy: node drains and upgrades will hang"
                    ),
                    evidence=[
                        ev.field(
                            pdb,
                            "status",
                            {
                                k: status.get(k)
                                for k in (
                                    "disruptionsAllowed",
                                    "currentHealthy",
                                    "desiredHealthy",
                                    "expectedPods",
                                )
                            },
                            quote=(
                                f"disruptionsAllowed: {allowed}, currentHealthy: {healthy}, desiredHealthy:"
                                f" {desired}, expectedPods: {expected}"
                            ),
                        )
                    ],
                    related=owners,
                    recommend=[
                        (
                            "relax_pdb",
                            f"Lower {budget} (or add replicas) so that at least one pod may be evicted",
                        )
                    ],
                    confidence=0.85,
                )
            )
    return findings
