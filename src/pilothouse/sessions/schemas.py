"""API shapes of /debug/session(s): supersets of the Kubently reference and A2A documents."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pilothouse.clusters.ids import ClusterId
from pilothouse.sessions.models import DebugSession
from pilothouse.sessions.service import SessionStatus, status_of

Text200 = Field(default=None, max_length=200)


class SessionMetadata(BaseModel):
    """The A2A document's ``metadata``; other keys are kept as given."""

    model_config = ConfigDict(extra="allow")

    user: str | None = Text200
    correlation_id: str | None = Text200


class CreateSessionRequest(BaseModel):
    cluster_id: ClusterId
    user_id: str | None = Text200
    correlation_id: str | None = Text200
    service_identity: str | None = Text200
    ttl_seconds: int | None = Field(default=None, description="Default 300, range 60-3600 (configurable)")
    metadata: SessionMetadata | None = None


class SessionOut(BaseModel):
    session_id: str
    cluster_id: str
    status: SessionStatus
    created_at: datetime
    expires_at: datetime
    last_activity: datetime
    ttl_seconds: int
    # Kubently reference and A2A names for the same number.
    command_count: int
    commands_executed: int
    correlation_id: str | None
    service_identity: str | None
    user_id: str | None
    ended_at: datetime | None
    metadata: dict[str, Any] | None

    @classmethod
    def of(cls, row: DebugSession, now: datetime) -> SessionOut:
        return cls(
            session_id=row.id,
            cluster_id=row.cluster_id,
            status=status_of(row, now),
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_activity=row.last_activity,
            ttl_seconds=row.ttl_seconds,
            command_count=row.command_count,
            commands_executed=row.command_count,
            correlation_id=row.correlation_id,
            service_identity=row.service_identity,
            user_id=row.user_id,
            ended_at=row.ended_at,
            metadata=row.client_metadata,
        )


class SessionEnded(BaseModel):
    """DELETE answer: the Kubently reference's (message, session_id) and the A2A document's
    (session_id, status "closed", closed_at) together."""

    message: str = "Session ended successfully"
    session_id: str
    cluster_id: str
    status: Literal["closed"] = "closed"
    closed_at: datetime
    ended_at: datetime
    command_count: int
    commands_executed: int

    @classmethod
    def of(cls, row: DebugSession) -> SessionEnded:
        assert row.ended_at is not None
        return cls(
            session_id=row.id,
            cluster_id=row.cluster_id,
            closed_at=row.ended_at,
            ended_at=row.ended_at,
            command_count=row.command_count,
            commands_executed=row.command_count,
        )


class SessionList(BaseModel):
    sessions: list[SessionOut]
    total: int
