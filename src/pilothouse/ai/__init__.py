"""The AI core's deterministic heart: analyzers over a cluster snapshot, evidence-backed findings
and root-cause ranking. No LLM is needed; findings are shaped so that one can cite them.

Entry points: :func:`investigate` (one resource, ranked into a :class:`Diagnosis`) and
:func:`scan` (the whole cluster, for insights).
"""

from pilothouse.ai.diagnosis import (
    Diagnosis,
    ScanReport,
    TargetNotFound,
    analyze_snapshot,
    investigate,
    scan,
    scan_report,
)
from pilothouse.ai.findings import (
    Cause,
    Change,
    Evidence,
    Finding,
    Recommendation,
    Remediation,
    ResourceRef,
)
from pilothouse.ai.snapshot import ClusterSnapshot, gather_snapshot

__all__ = [
    "Cause",
    "Change",
    "ClusterSnapshot",
    "Diagnosis",
    "Evidence",
    "Finding",
    "Recommendation",
    "Remediation",
    "ResourceRef",
    "ScanReport",
    "TargetNotFound",
    "analyze_snapshot",
    "gather_snapshot",
    "investigate",
    "scan",
    "scan_report",
]
