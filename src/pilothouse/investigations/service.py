"""Running investigations in the background and keeping their record.

An investigation is stored before the 202 is sent, runs on this process's event loop (at most
``max_concurrent_investigations`` at once per caller, and per server twice that), writes its
progress as it goes, then its diagnosis, and proposes its remediations as actions. One that was
running when the server stopped is marked failed at the next start, never left in_progress.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from pilothouse.actions.service import ActionService, AiSettingsStore
from pilothouse.ai.diagnosis import Diagnosis, TargetNotFound, investigate
from pilothouse.ai.findings import SEVERITY_RANK, ResourceRef
from pilothouse.audit.clock import Clock, utc_now
from pilothouse.audit.service import Actor, AuditAction, AuditOutcome, record
from pilothouse.contexts.service import ClusterTarget
from pilothouse.errors import ApiError, NotFound, RateLimited, isoformat_or_none
from pilothouse.investigations.models import Investigation
from pilothouse.kube.errors import kube_errors
from pilothouse.observability.logging import get_logger
from pilothouse.store.database import Database

log = get_logger(__name__)


class InvalidInvestigationRequest(ApiError):
    status_code = 400
    error = "invalid_investigation_request"


def investigation_body(row: Investigation, *, include_findings: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "investigation_id": row.id,
        "cluster_id": row.cluster_id,
        "status": row.status,
        "resource": {"kind": row.resource_kind, "namespace": row.namespace, "name": row.resource_name},
        "symptoms": row.symptoms,
        "investigation_scope": row.scope,
        "severity": row.severity,
        "top_cause": row.top_cause,
        "progress_percent": row.progress_percent,
        "progress_message": row.progress_message,
        "start_time": isoformat_or_none(row.started_at),
        "completion_time": isoformat_or_none(row.completed_at),
        "findings_summary": row.findings_summary,
        "recommendations": row.recommendations or [],
        "error": row.error,
        "created_by": row.created_by,
    }
    if include_findings and row.diagnosis is not None:
        body["findings"] = row.diagnosis.get("findings", [])
        body["root_cause"] = row.diagnosis.get("root_cause")
        body["remediations"] = row.diagnosis.get("remediations", [])
    return body


class InvestigationService:
    def __init__(
        self, database: Database, actions: ActionService, settings: AiSettingsStore, *, clock: Clock = utc_now
    ) -> None:
        self.database = database
        self.actions = actions
        self.settings = settings
        self.clock = clock
        self._running: dict[str, int] = defaultdict(int)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        return sum(self._running.values())

    async def recover(self) -> None:
        """Mark investigations a previous process left running as failed."""
        async with self.database.session() as session:
            await session.execute(
                update(Investigation)
                .where(Investigation.status.in_(("pending", "in_progress")))
                .values(
                    status="failed",
                    error="interrupted: the server stopped while it ran",
                    completed_at=self.clock(),
                )
            )

    async def start(
        self,
        target: ClusterTarget,
        actor: Actor,
        *,
        kind: str,
        namespace: str | None,
        name: str,
        symptoms: list[str],
        scope: str,
        search_window_minutes: int,
    ) -> dict[str, Any]:
        settings = (await self.settings.load())["investigation_settings"]
        owner = actor.key_id or actor.name or "anonymous"
        if self._running[owner] >= settings.max_concurrent_investigations:
            raise RateLimited(
                5,
                message=f"At most {settings.max_concurrent_investigations} investigations at once per user",
                error="rate_limit_exceeded",
            )
        with kube_errors(target.id):
            resource = await target.resolver.resolve(kind)
            try:
                await target.ops.get(resource, name, namespace if resource.namespaced else None)
            except ApiError:
                raise
            except Exception as error:
                if getattr(error, "status", None) == 404:
                    raise InvalidInvestigationRequest(
                        f"{resource.kind} not found", details={"namespace": namespace, "resource_name": name}
                    ) from error
                raise
        now = self.clock()
        row = Investigation(
            id=f"inv-{now:%Y%m%d}-{secrets.token_hex(4)}",
            cluster_id=target.id,
            status="in_progress",
            resource_kind=resource.kind,
            namespace=namespace if resource.namespaced else None,
            resource_name=name,
            symptoms=symptoms,
            scope=scope,
            search_window_minutes=search_window_minutes,
            progress_percent=1,
            progress_message="queued",
            severity=None,
            top_cause=None,
            findings_summary=None,
            recommendations=None,
            diagnosis=None,
            error=None,
            created_by_key=actor.key_id,
            created_by=actor.name,
            started_at=now,
            completed_at=None,
        )
        async with self.database.session() as session:
            session.add(row)
            record(
                session,
                action=AuditAction.AI_INVESTIGATE,
                outcome=AuditOutcome.SUCCESS,
                actor=actor,
                occurred_at=now,
                cluster_id=target.id,
                details={
                    "investigation_id": row.id,
                    "kind": resource.kind,
                    "namespace": namespace,
                    "name": name,
                },
            )
        body = investigation_body(row, include_findings=False)
        body["estimated_completion_time"] = isoformat_or_none(now + timedelta(seconds=10))
        self._running[owner] += 1
        task = asyncio.create_task(
            self._run(row.id, target, owner, limit_seconds=settings.investigation_timeout_minutes * 60)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return body

    async def _run(
        self, investigation_id: str, target: ClusterTarget, owner: str, *, limit_seconds: float
    ) -> None:
        progress_writes: list[asyncio.Task[None]] = []

        def progress(percent: int, message: str) -> None:
            progress_writes.append(asyncio.create_task(self._progress(investigation_id, percent, message)))

        try:
            async with self.database.session() as session:
                row = await session.get(Investigation, investigation_id)
                assert row is not None
                ref = ResourceRef(kind=row.resource_kind, namespace=row.namespace, name=row.resource_name)
            diagnosis = await asyncio.wait_for(
                investigate(target.ops, target.resolver, ref, progress=progress), limit_seconds
            )
            await asyncio.gather(*progress_writes, return_exceptions=True)
            await self._complete(investigation_id, target, diagnosis)
        except (TimeoutError, TargetNotFound, ApiError, Exception) as error:  # recorded, never lost
            await asyncio.gather(*progress_writes, return_exceptions=True)
            message = "timed out" if isinstance(error, TimeoutError) else str(error) or type(error).__name__
            log.warning("investigation.failed", investigation_id=investigation_id, error=message)
            async with self.database.session() as session:
                row = await session.get(Investigation, investigation_id)
                if row is not None:
                    row.status, row.error, row.completed_at = "failed", message, self.clock()
        finally:
            self._running[owner] -= 1

    async def _progress(self, investigation_id: str, percent: int, message: str) -> None:
        async with self.database.session() as session:
            await session.execute(
                update(Investigation)
                .where(Investigation.id == investigation_id, Investigation.status == "in_progress")
                .values(progress_percent=max(1, min(99, percent)), progress_message=message[:500])
            )

    async def _complete(self, investigation_id: str, target: ClusterTarget, diagnosis: Diagnosis) -> None:
        by_remediation = {
            id(finding.remediation): finding
            for finding in diagnosis.findings
            if finding.remediation is not None
        }
        proposals = [
            (by_remediation.get(id(remediation)), remediation) for remediation in diagnosis.remediations
        ]
        async with self.database.session() as session:
            row = await session.get(Investigation, investigation_id)
            assert row is not None
            row.status = "completed"
            row.progress_percent, row.progress_message = 100, "completed"
            row.severity = diagnosis.severity
            row.top_cause = diagnosis.root_cause.cause.value if diagnosis.root_cause else None
            row.findings_summary = diagnosis.findings_summary
            row.recommendations = [item.model_dump(mode="json") for item in diagnosis.recommendations]
            row.diagnosis = diagnosis.model_dump(mode="json")
            row.completed_at = self.clock()
        await self.actions.propose(target.id, investigation_id, proposals)

    async def get(self, investigation_id: str, *, allowed: frozenset[str] | None) -> dict[str, Any]:
        async with self.database.session() as session:
            row = await session.get(Investigation, investigation_id)
            if row is None or (allowed is not None and row.cluster_id not in allowed):
                raise NotFound.of("investigation", investigation_id)
            body = investigation_body(row, include_findings=True)
        body["actions"] = await self.actions.of_investigation(investigation_id)
        return body

    async def list(
        self,
        *,
        status: str | None,
        namespace: str | None,
        limit: int,
        offset: int,
        sort_by: str,
        include_findings: bool,
        allowed: frozenset[str] | None,
    ) -> tuple[int, list[dict[str, Any]]]:
        statement = select(Investigation)
        if status:
            statement = statement.where(Investigation.status == status)
        if namespace:
            statement = statement.where(Investigation.namespace == namespace)
        if allowed is not None:
            statement = statement.where(Investigation.cluster_id.in_(allowed))
        async with self.database.session() as session:
            total = await session.scalar(select(func.count()).select_from(statement.subquery())) or 0
            if sort_by == "completion_time":
                statement = statement.order_by(Investigation.completed_at.desc(), Investigation.id)
            else:
                statement = statement.order_by(Investigation.started_at.desc(), Investigation.id)
            rows = (
                list((await session.execute(statement)).scalars())
                if sort_by == "severity"
                else list((await session.execute(statement.offset(offset).limit(limit))).scalars())
            )
        if sort_by == "severity":
            rows.sort(key=lambda row: -SEVERITY_RANK.get(row.severity or "", 0))
            rows = rows[offset : offset + limit]
        return total, [investigation_body(row, include_findings=include_findings) for row in rows]

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
