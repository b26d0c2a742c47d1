"""Recording and querying audit events. Callers add events inside their own unit of work, so
an action and its audit record commit (or roll back) together."""

from __future__ import annotations

import getpass
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from pilothouse.audit.models import AuditEvent
from pilothouse.observability.logging import current_context


class AuditAction(StrEnum):
    COMMAND_EXECUTE = "command.execute"
    COMMAND_DENIED = "command.denied"
    CLUSTER_PING = "cluster.ping"
    SESSION_CREATE = "session.create"
    SESSION_END = "session.end"
    KEY_CREATE = "key.create"
    KEY_REVOKE = "key.revoke"
    CLUSTER_ADD = "cluster.add"
    CLUSTER_ROTATE_TOKEN = "cluster.rotate_token"  # noqa: S105 - an action name
    CLUSTER_REMOVE = "cluster.remove"
    AUTH_DENIED = "auth.denied"
    TOKEN_ISSUE = "token.issue"  # noqa: S105 - an action name
    TOKEN_REVOKE = "token.revoke"  # noqa: S105 - an action name
    RESOURCE_CREATE = "resource.create"
    RESOURCE_UPDATE = "resource.update"
    RESOURCE_DELETE = "resource.delete"
    POD_EXEC = "pod.exec"
    POD_SHELL = "pod.shell"
    AI_CONFIG_UPDATE = "ai.config_update"
    AI_INVESTIGATE = "ai.investigate"
    ACTION_APPROVE = "action.approve"
    ACTION_REJECT = "action.reject"
    ACTION_APPLY = "action.apply"
    INSIGHT_DISMISS = "insight.dismiss"


class AuditOutcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    TIMEOUT = "timeout"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted, and under which request: what every audit event records about its cause."""

    key_id: str | None
    name: str | None
    service_identity: str | None = None
    correlation_id: str | None = None
    request_id: str | None = None

    @classmethod
    def cli(cls) -> Actor:
        """The operator at a terminal: the CLI works on the database without an API key."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (containers)
            user = "unknown"
        return cls(key_id=None, name=f"cli:{user}")

    def with_request_context(self) -> Actor:
        """This actor with the current request's ids filled in where missing."""
        context = current_context()
        if context is None:
            return self
        return Actor(
            key_id=self.key_id,
            name=self.name,
            service_identity=self.service_identity,
            correlation_id=self.correlation_id or context.correlation_id,
            request_id=self.request_id or context.request_id,
        )


def event_values(
    *,
    action: AuditAction,
    outcome: AuditOutcome,
    actor: Actor,
    occurred_at: datetime,
    cluster_id: str | None = None,
    session_id: str | None = None,
    command_id: str | None = None,
    args: Sequence[str] | None = None,
    reason: str | None = None,
    duration_ms: int | None = None,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The column values of one audit event, for writers that insert rows in bulk."""
    return {
        "occurred_at": occurred_at,
        "action": str(action),
        "outcome": str(outcome),
        "key_id": actor.key_id,
        "principal_name": actor.name,
        "service_identity": actor.service_identity,
        "correlation_id": actor.correlation_id,
        "request_id": actor.request_id,
        "cluster_id": cluster_id,
        "session_id": session_id,
        "command_id": command_id,
        "args": list(args) if args is not None else None,
        "reason": reason,
        "duration_ms": duration_ms,
        "details": dict(details) if details else None,
    }


def record(
    session: AsyncSession,
    *,
    action: AuditAction,
    outcome: AuditOutcome,
    actor: Actor,
    occurred_at: datetime,
    cluster_id: str | None = None,
    session_id: str | None = None,
    command_id: str | None = None,
    args: Sequence[str] | None = None,
    reason: str | None = None,
    duration_ms: int | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        **event_values(
            action=action,
            outcome=outcome,
            actor=actor,
            occurred_at=occurred_at,
            cluster_id=cluster_id,
            session_id=session_id,
            command_id=command_id,
            args=args,
            reason=reason,
            duration_ms=duration_ms,
            details=details,
        )
    )
    session.add(event)
    return event


@dataclass(frozen=True)
class AuditQuery:
    cluster_id: str | None = None
    # Matches the key id, the principal name or the service identity.
    principal: str | None = None
    # Exact ("command.execute") or, without a dot, a family ("command" matches "command.*").
    action: str | None = None
    outcome: str | None = None
    correlation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0


def _conditions(query: AuditQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.cluster_id is not None:
        conditions.append(AuditEvent.cluster_id == query.cluster_id)
    if query.principal is not None:
        conditions.append(
            or_(
                AuditEvent.key_id == query.principal,
                AuditEvent.principal_name == query.principal,
                AuditEvent.service_identity == query.principal,
            )
        )
    if query.action is not None:
        if "." in query.action:
            conditions.append(AuditEvent.action == query.action)
        else:
            conditions.append(AuditEvent.action.startswith(f"{query.action}.", autoescape=True))
    if query.outcome is not None:
        conditions.append(AuditEvent.outcome == query.outcome)
    if query.correlation_id is not None:
        conditions.append(AuditEvent.correlation_id == query.correlation_id)
    if query.since is not None:
        conditions.append(AuditEvent.occurred_at >= query.since)
    if query.until is not None:
        conditions.append(AuditEvent.occurred_at < query.until)
    return conditions


async def search(session: AsyncSession, query: AuditQuery) -> tuple[list[AuditEvent], int]:
    """Matching events, newest first, one page of them, and how many match in all."""
    where = and_(true(), *_conditions(query))
    total = (await session.execute(select(func.count()).select_from(AuditEvent).where(where))).scalar_one()
    page = await session.execute(
        select(AuditEvent)
        .where(where)
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .limit(query.limit)
        .offset(query.offset)
    )
    return list(page.scalars()), int(total)
