"""Insights: full-cluster scans kept as stable, dismissable records; and the analytics summary.

Each scan runs every analyzer over the whole cluster (informer-backed lists, so a scan costs the
analysis, not 10,000 pods read again) and upserts one insight per finding: the same problem
seen again keeps its id, its first-seen time and its dismissal. A finding no longer seen is
marked resolved. Scans run per cluster every ``insight_settings.scan_interval_seconds``.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from pilothouse.actions.models import ProposedAction
from pilothouse.actions.service import AiSettingsStore
from pilothouse.ai.diagnosis import scan
from pilothouse.ai.findings import SEVERITY_RANK, Finding
from pilothouse.audit.clock import Clock, utc_now
from pilothouse.audit.service import Actor, AuditAction, AuditOutcome, record
from pilothouse.clusters.service import ClusterRegistry
from pilothouse.contexts.service import ClusterTargets
from pilothouse.errors import NotFound, isoformat_or_none
from pilothouse.insights.models import Insight
from pilothouse.investigations.models import Investigation
from pilothouse.observability.logging import get_logger
from pilothouse.store.database import Database

log = get_logger(__name__)

FIRST_SCAN_DELAY_SECONDS = 30.0

CATEGORIES = {
    "health": "health",
    "reliability": "health",
    "security": "security",
    "performance": "performance",
    "cost": "cost_optimization",
}
# The spec's three insight severities, from the analyzers' five.
SPEC_SEVERITY = {
    "critical": "critical",
    "high": "warning",
    "medium": "warning",
    "low": "info",
    "info": "info",
}


def insight_id(cluster_id: str, finding_id: str) -> str:
    return "ins-" + hashlib.sha256(f"{cluster_id}\0{finding_id}".encode()).hexdigest()[:16]


def _title(finding: Finding) -> str:
    ref = finding.resource
    where = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
    return f"{finding.cause.value.replace('-', ' ').capitalize()}: {ref.kind} {where}"


def insight_body(row: Insight) -> dict[str, Any]:
    return {
        "insight_id": row.id,
        "cluster_id": row.cluster_id,
        "category": row.category,
        "severity": SPEC_SEVERITY.get(row.severity, "info"),
        "priority": row.severity,
        "title": row.title,
        "description": row.description,
        "affected_resources": row.affected,
        "recommendation": row.recommendation,
        "cause": row.finding.get("cause"),
        "evidence": row.finding.get("evidence", []),
        "generated_time": isoformat_or_none(row.generated_time),
        "first_seen": isoformat_or_none(row.first_seen),
        "times_seen": row.times_seen,
        "resolved_at": isoformat_or_none(row.resolved_at),
        "dismissed_at": isoformat_or_none(row.dismissed_at),
        "dismissed_by": row.dismissed_by,
        "dismiss_reason": row.dismiss_reason,
    }


class InsightService:
    def __init__(
        self,
        database: Database,
        registry: ClusterRegistry,
        targets: ClusterTargets,
        settings: AiSettingsStore,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.database = database
        self.registry = registry
        self.targets = targets
        self.settings = settings
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def start(self) -> None:
        self._task = asyncio.create_task(self._periodic(), name="insight-scans")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _periodic(self) -> None:
        # Let executors dial in first: right after start a tunnel cluster is not reachable yet.
        await asyncio.sleep(FIRST_SCAN_DELAY_SECONDS)
        while True:
            settings = (await self.settings.load())["insight_settings"]
            if settings.enabled:
                await self.scan_all()
            await asyncio.sleep(settings.scan_interval_seconds)

    async def scan_all(self) -> dict[str, dict[str, int]]:
        """Scan every cluster this server reaches (``scan_cluster``'s counts by cluster). A tunnel
        cluster whose executor is not connected here is left out: trying it would only fail, and
        log a warning per cluster and round."""
        async with self.database.session() as session:
            clusters = await self.registry.all_clusters(session)
        counts: dict[str, dict[str, int]] = {}
        for cluster in clusters:
            if not self.targets.reachable_here(cluster.id, cluster.transport):
                continue
            try:
                counts[cluster.id] = await self.scan_cluster(cluster.id)
            except Exception as error:  # one cluster's failure must not stop the others
                log.warning("insights.scan_failed", cluster_id=cluster.id, error=str(error))
        return counts

    async def scan_cluster(self, cluster_id: str) -> dict[str, int]:
        """Scan one cluster now and store what it found; counts of new, seen and resolved."""
        async with self._lock:
            target = await self.targets.get(cluster_id)
            findings = await scan(target.snapshot_ops, target.resolver)
            now = self.clock()
            seen: set[str] = set()
            counts = {"new": 0, "seen": 0, "resolved": 0, "findings": len(findings)}
            async with self.database.session() as session:
                existing = {
                    row.id: row
                    for row in (
                        await session.execute(select(Insight).where(Insight.cluster_id == cluster_id))
                    ).scalars()
                }
                for finding in findings:
                    identifier = insight_id(cluster_id, finding.id)
                    if identifier in seen:
                        continue
                    seen.add(identifier)
                    fields = self._fields(finding)
                    row = existing.get(identifier)
                    if row is None:
                        session.add(
                            Insight(
                                id=identifier,
                                cluster_id=cluster_id,
                                first_seen=now,
                                generated_time=now,
                                resolved_at=None,
                                times_seen=1,
                                dismissed_at=None,
                                dismissed_by=None,
                                dismiss_reason=None,
                                dismiss_notes=None,
                                **fields,
                            )
                        )
                        counts["new"] += 1
                    else:
                        for name, value in fields.items():
                            setattr(row, name, value)
                        row.generated_time, row.resolved_at, row.times_seen = now, None, row.times_seen + 1
                        counts["seen"] += 1
                for identifier, row in existing.items():
                    if identifier not in seen and row.resolved_at is None:
                        row.resolved_at = now
                        counts["resolved"] += 1
            return counts

    @staticmethod
    def _fields(finding: Finding) -> dict[str, Any]:
        refs = finding.refs_without_dependencies()
        examples = [f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name for ref in refs][:5]
        steps = [item.details for item in finding.recommendations]
        return {
            "category": CATEGORIES.get(finding.category, "health"),
            "severity": finding.severity,
            "title": _title(finding)[:500],
            "description": finding.summary,
            "affected": {"count": len(refs), "examples": examples},
            "recommendation": {
                "action": finding.recommendations[0].details if finding.recommendations else None,
                "steps": steps,
                "risk_level": finding.remediation.risk if finding.remediation else "low",
            },
            "finding": finding.model_dump(mode="json"),
        }

    async def list(
        self,
        *,
        category: str | None,
        severity: str | None,
        dismissed: bool,
        limit: int,
        allowed: frozenset[str] | None,
        cluster_id: str | None,
    ) -> tuple[int, list[dict[str, Any]]]:
        statement = select(Insight).where(Insight.resolved_at.is_(None))
        if category and category != "all":
            statement = statement.where(Insight.category == category)
        if severity:
            raw = [name for name, spec in SPEC_SEVERITY.items() if spec == severity] or [severity]
            statement = statement.where(Insight.severity.in_(raw))
        if not dismissed:
            statement = statement.where(Insight.dismissed_at.is_(None))
        if allowed is not None:
            statement = statement.where(Insight.cluster_id.in_(allowed))
        if cluster_id:
            statement = statement.where(Insight.cluster_id == cluster_id)
        async with self.database.session() as session:
            total = await session.scalar(select(func.count()).select_from(statement.subquery())) or 0
            rows = list((await session.execute(statement.order_by(Insight.generated_time.desc()))).scalars())
        rows.sort(key=lambda row: (-SEVERITY_RANK.get(row.severity, 0), row.id))
        return total, [insight_body(row) for row in rows[:limit]]

    async def dismiss(
        self,
        insight_id_: str,
        actor: Actor,
        *,
        reason: str | None,
        notes: str | None,
        allowed: frozenset[str] | None,
    ) -> dict[str, Any]:
        now = self.clock()
        async with self.database.session() as session:
            row = await session.get(Insight, insight_id_)
            if row is None or (allowed is not None and row.cluster_id not in allowed):
                raise NotFound.of("insight", insight_id_)
            if row.dismissed_at is None:
                row.dismissed_at, row.dismissed_by = now, actor.name
                row.dismiss_reason, row.dismiss_notes = reason, notes
                record(
                    session,
                    action=AuditAction.INSIGHT_DISMISS,
                    outcome=AuditOutcome.SUCCESS,
                    actor=actor,
                    occurred_at=now,
                    cluster_id=row.cluster_id,
                    reason=reason,
                    details={"insight_id": insight_id_},
                )
            return {
                "insight_id": row.id,
                "dismissed_at": isoformat_or_none(row.dismissed_at),
                "dismissed_by": row.dismissed_by,
                "reason": row.dismiss_reason,
                "notes": row.dismiss_notes,
            }


PERIODS = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}


async def analytics_summary(
    database: Database, *, period: str, now: datetime, allowed: frozenset[str] | None
) -> dict[str, Any]:
    """What the stored records say about the period: investigations, actions and insights."""
    start = now - PERIODS[period]
    async with database.session() as session:
        investigations = select(Investigation).where(Investigation.started_at >= start)
        actions = select(ProposedAction).where(ProposedAction.proposed_at >= start)
        insights = select(Insight).where(Insight.first_seen >= start)
        if allowed is not None:
            investigations = investigations.where(Investigation.cluster_id.in_(allowed))
            actions = actions.where(ProposedAction.cluster_id.in_(allowed))
            insights = insights.where(Insight.cluster_id.in_(allowed))
        inv_rows = list((await session.execute(investigations)).scalars())
        act_rows = list((await session.execute(actions)).scalars())
        ins_rows = list((await session.execute(insights)).scalars())
    by_status: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    durations = []
    for row in inv_rows:
        by_status[row.status] = by_status.get(row.status, 0) + 1
        if row.severity:
            by_severity[row.severity] = by_severity.get(row.severity, 0) + 1
        if row.completed_at and row.status == "completed":
            durations.append((row.completed_at - row.started_at).total_seconds())
    finished = by_status.get("completed", 0) + by_status.get("failed", 0)
    action_status: dict[str, int] = {}
    for action in act_rows:
        status = "expired" if action.status == "pending" and action.expires_at <= now else action.status
        action_status[status] = action_status.get(status, 0) + 1
    approved = sum(action_status.get(name, 0) for name in ("executing", "applied", "verified", "failed"))
    decided = approved + action_status.get("rejected", 0) + action_status.get("expired", 0)
    by_category: dict[str, int] = {}
    for insight in ins_rows:
        by_category[insight.category] = by_category.get(insight.category, 0) + 1
    dismissed = sum(1 for insight in ins_rows if insight.dismissed_at is not None)
    users = {row.created_by_key or row.created_by for row in inv_rows} | {
        a.decided_by_key or a.decided_by for a in act_rows if a.decided_by
    }
    return {
        "period": {
            "start_time": isoformat_or_none(start),
            "end_time": isoformat_or_none(now),
            "duration_days": PERIODS[period].days or 1,
            "time_period": period,
        },
        "investigations": {
            "total_initiated": len(inv_rows),
            "total_completed": by_status.get("completed", 0),
            "average_duration_seconds": round(sum(durations) / len(durations), 3) if durations else None,
            "by_status": by_status,
            "success_rate_percent": round(100 * by_status.get("completed", 0) / finished, 1)
            if finished
            else None,
            "by_severity": by_severity,
        },
        "actions_proposed": {
            "total": len(act_rows),
            "approved": approved,
            "rejected": action_status.get("rejected", 0),
            "expired": action_status.get("expired", 0),
            "pending": action_status.get("pending", 0),
            "verified": action_status.get("verified", 0),
            "failed": action_status.get("failed", 0),
            "approval_rate_percent": round(100 * approved / decided, 1) if decided else None,
        },
        "insights_generated": {
            "total": len(ins_rows),
            "by_category": by_category,
            "dismissed_percent": round(100 * dismissed / len(ins_rows), 1) if ins_rows else None,
        },
        # No LLM is configured: nothing is spent on tokens (section 15 arrives with the LLM).
        "token_usage": {"total_tokens": 0, "average_per_request": 0, "by_operation": {}},
        "llm_api_calls": {"total": 0, "success_rate_percent": None, "average_latency_ms": None},
        "user_engagement": {"unique_users": len({user for user in users if user})},
    }
