"""The analyzers: one module per domain, each ``async def analyze(ctx) -> list[Finding]``.

They read a :class:`ClusterSnapshot` (and, through the context, container logs) and never the
cluster directly, so the same code serves an investigation (one namespace, logs of the pods in
scope) and a full-cluster scan (every namespace, logs of a bounded number of failing pods).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection

from pilothouse.ai.analyzers import (
    autoscaling,
    cost,
    disruption,
    ingresses,
    jobs,
    logs,
    networkpolicies,
    nodes,
    pods,
    posture,
    services,
    storage,
    workloads,
)
from pilothouse.ai.analyzers.context import AnalysisContext
from pilothouse.ai.findings import Finding

Analyzer = Callable[[AnalysisContext], Awaitable[list[Finding]]]

_MODULES = (
    pods,
    workloads,
    jobs,
    services,
    ingresses,
    storage,
    nodes,
    autoscaling,
    disruption,
    networkpolicies,
    logs,
    posture,
    cost,
)
ANALYZERS: dict[str, Analyzer] = {module.NAME: module.analyze for module in _MODULES}


def registry() -> dict[str, Analyzer]:
    """Every analyzer by name, in a stable order."""
    return dict(ANALYZERS)


async def run_analyzers(ctx: AnalysisContext, names: Collection[str] | None = None) -> list[Finding]:
    """Run the analyzers (all, or those named) concurrently; their findings, in registry order."""
    selected = [fn for name, fn in ANALYZERS.items() if names is None or name in names]
    results = await asyncio.gather(*(fn(ctx) for fn in selected))
    return [finding for found in results for finding in found]


__all__ = ["ANALYZERS", "AnalysisContext", "Analyzer", "registry", "run_analyzers"]
