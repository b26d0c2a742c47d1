"""Debug sessions: create, read, end, list; and the bookkeeping each command does on its session.

Lifetime: ``ttl_seconds`` (60-3600 by default, 300 if not given) counted from the last
activity, so each command extends ``expires_at`` to ``last_activity + ttl`` (a sliding TTL).
Status, derived from the timestamps:

* ``ended``   - closed with DELETE;
* ``expired`` - ``expires_at`` has passed;
* ``idle``    - no activity for more than half the TTL;
* ``active``  - otherwise.

An expired or ended session can still be read (GET shows why it is unusable) but not used:
a command naming it is refused with 410 Gone (``SESSION_EXPIRED`` / ``SESSION_ENDED``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from pilothouse.audit.clock import Clock, utc_now
from pilothouse.audit.service import AuditAction, AuditOutcome, record
from pilothouse.auth.principal import Principal
from pilothouse.clusters.service import ClusterRegistry
from pilothouse.errors import BadRequest, Gone, NotFound, ValidationFailed
from pilothouse.sessions.models import DebugSession
from pilothouse.settings import Settings
from pilothouse.store.database import Database, rowcount

SESSION_ID_PREFIX = "sess_"


class SessionStatus(StrEnum):
    ACTIVE = "active"
    IDLE = "idle"
    EXPIRED = "expired"
    ENDED = "ended"


def status_of(row: DebugSession, now: datetime) -> SessionStatus:
    if row.ended_at is not None:
        return SessionStatus.ENDED
    if now >= row.expires_at:
        return SessionStatus.EXPIRED
    if now >= row.idle_at:
        return SessionStatus.IDLE
    return SessionStatus.ACTIVE


def _status_condition(status: SessionStatus, now: datetime) -> ColumnElement[bool]:
    live = DebugSession.ended_at.is_(None)
    match status:
        case SessionStatus.ENDED:
            return DebugSession.ended_at.is_not(None)
        case SessionStatus.EXPIRED:
            return and_(live, DebugSession.expires_at <= now)
        case SessionStatus.IDLE:
            return and_(live, DebugSession.expires_at > now, DebugSession.idle_at <= now)
        case SessionStatus.ACTIVE:
            return and_(live, DebugSession.idle_at > now)


def _activity(now: datetime, ttl_seconds: int) -> dict[str, datetime]:
    return {
        "last_activity": now,
        "idle_at": now + timedelta(seconds=ttl_seconds / 2),
        "expires_at": now + timedelta(seconds=ttl_seconds),
    }


@dataclass(frozen=True)
class NewSession:
    cluster_id: str
    ttl_seconds: int | None = None
    user_id: str | None = None
    correlation_id: str | None = None
    service_identity: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class SessionService:
    def __init__(
        self, database: Database, registry: ClusterRegistry, settings: Settings, *, clock: Clock = utc_now
    ) -> None:
        self.database = database
        self.registry = registry
        self.clock = clock
        self._ttl_default = settings.session_ttl_default_seconds
        self._ttl_min = settings.session_ttl_min_seconds
        self._ttl_max = settings.session_ttl_max_seconds

    async def create(self, principal: Principal, new: NewSession) -> DebugSession:
        ttl = self._ttl_default if new.ttl_seconds is None else new.ttl_seconds
        if not self._ttl_min <= ttl <= self._ttl_max:
            raise ValidationFailed(
                errors=[
                    {
                        "field": "ttl_seconds",
                        "message": f"must be between {self._ttl_min} and {self._ttl_max} seconds",
                    }
                ]
            )
        now = self.clock()
        async with self.database.session() as session:
            await self.registry.view(new.cluster_id, session)
            row = DebugSession(
                id=f"{SESSION_ID_PREFIX}{uuid.uuid4().hex}",
                cluster_id=new.cluster_id,
                key_id=principal.key_id,
                principal_name=principal.name,
                user_id=new.user_id,
                correlation_id=new.correlation_id,
                service_identity=new.service_identity,
                client_metadata=new.metadata or None,
                ttl_seconds=ttl,
                created_at=now,
                ended_at=None,
                command_count=0,
                **_activity(now, ttl),
            )
            session.add(row)
            record(
                session,
                action=AuditAction.SESSION_CREATE,
                outcome=AuditOutcome.SUCCESS,
                actor=principal.actor(
                    correlation_id=new.correlation_id, service_identity=new.service_identity
                ),
                occurred_at=now,
                cluster_id=new.cluster_id,
                session_id=row.id,
                details={"ttl_seconds": ttl, "user_id": new.user_id} if new.user_id else {"ttl_seconds": ttl},
            )
        return row

    async def get(self, principal: Principal, session_id: str) -> DebugSession:
        async with self.database.session() as session:
            return await self._owned(session, principal, session_id)

    async def end(self, principal: Principal, session_id: str) -> DebugSession:
        """End a session. Ending it again is harmless and answers as the first time did."""
        async with self.database.session() as session:
            row = await self._owned(session, principal, session_id)
            if row.ended_at is None:
                now = self.clock()
                row.ended_at = now
                record(
                    session,
                    action=AuditAction.SESSION_END,
                    outcome=AuditOutcome.SUCCESS,
                    actor=principal.actor(),
                    occurred_at=now,
                    cluster_id=row.cluster_id,
                    session_id=row.id,
                    details={"command_count": row.command_count},
                )
        return row

    async def search(
        self, *, cluster_id: str | None, status: SessionStatus | None, limit: int
    ) -> tuple[list[DebugSession], int]:
        """Sessions newest first, and how many match in all."""
        conditions: list[ColumnElement[bool]] = []
        if cluster_id is not None:
            conditions.append(DebugSession.cluster_id == cluster_id)
        if status is not None:
            conditions.append(_status_condition(status, self.clock()))
        where = and_(true(), *conditions)
        async with self.database.session() as session:
            total = await session.scalar(select(func.count()).select_from(DebugSession).where(where))
            rows = await session.scalars(
                select(DebugSession)
                .where(where)
                .order_by(DebugSession.created_at.desc(), DebugSession.id)
                .limit(limit)
            )
            return list(rows), int(total or 0)

    async def count_live(self, cluster_id: str | None = None) -> int:
        """Sessions neither ended nor expired (active or idle)."""
        condition = and_(DebugSession.ended_at.is_(None), DebugSession.expires_at > self.clock())
        if cluster_id is not None:
            condition = and_(condition, DebugSession.cluster_id == cluster_id)
        async with self.database.session() as session:
            count = await session.scalar(select(func.count()).select_from(DebugSession).where(condition))
        return int(count or 0)

    async def record_command(
        self, session: AsyncSession, principal: Principal, session_id: str, cluster_id: str
    ) -> DebugSession:
        """Within the caller's unit of work: check that the session may take a command on
        ``cluster_id`` and count it, sliding the session's expiry forward."""
        now = self.clock()
        row = await self._owned(session, principal, session_id)
        if row.cluster_id != cluster_id:
            raise BadRequest(
                f"Session {session_id} belongs to cluster {row.cluster_id}, not {cluster_id}",
                code="SESSION_CLUSTER_MISMATCH",
                details={"session_id": session_id, "cluster_id": row.cluster_id},
            )
        self._ensure_usable(row, now)
        # Conditional, so that a session ended or expired by a concurrent request is not revived.
        result = await session.execute(
            update(DebugSession)
            .where(
                DebugSession.id == session_id,
                DebugSession.ended_at.is_(None),
                DebugSession.expires_at > now,
            )
            .values(command_count=DebugSession.command_count + 1, **_activity(now, row.ttl_seconds))
            .execution_options(synchronize_session=False)
        )
        if rowcount(result) != 1:
            await session.refresh(row)
            self._ensure_usable(row, now)
        return row

    @staticmethod
    def _ensure_usable(row: DebugSession, now: datetime) -> None:
        status = status_of(row, now)
        if status is SessionStatus.ENDED:
            raise Gone(
                f"Session ended: {row.id}",
                code="SESSION_ENDED",
                details={"session_id": row.id, "status": status.value, "ended_at": row.ended_at},
            )
        if status is SessionStatus.EXPIRED:
            raise Gone(
                f"Session expired: {row.id}",
                code="SESSION_EXPIRED",
                details={"session_id": row.id, "status": status.value, "expired_at": row.expires_at},
            )

    @staticmethod
    async def _owned(session: AsyncSession, principal: Principal, session_id: str) -> DebugSession:
        row = await session.get(DebugSession, session_id)
        # Another key's session is reported as missing: its existence is not this key's business.
        if row is None or not (principal.is_admin or row.key_id == principal.key_id):
            raise NotFound.of("session", session_id)
        return row
