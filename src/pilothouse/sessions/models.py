"""Debug sessions. Status is derived from the timestamps, never stored, so it cannot go stale."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pilothouse.audit.clock import UtcDateTime
from pilothouse.store.database import Base


class DebugSession(Base):
    __tablename__ = "debug_sessions"
    __table_args__ = (
        Index("ix_debug_sessions_cluster_id_created_at", "cluster_id", "created_at"),
        Index("ix_debug_sessions_expires_at", "expires_at"),
        Index("ix_debug_sessions_key_id", "key_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cluster_id: Mapped[str] = mapped_column(String(63))
    # The API key that created it: only that key (or an admin) may use or see it.
    key_id: Mapped[str | None] = mapped_column(String(64))
    principal_name: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(200))
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    service_identity: Mapped[str | None] = mapped_column(String(200))
    # The A2A document's free-form "metadata" object ("metadata" is reserved by SQLAlchemy).
    client_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ttl_seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_activity: Mapped[datetime] = mapped_column(UtcDateTime())
    # last_activity + ttl/2 and last_activity + ttl: stored so that "idle" and "expired" are
    # plain comparisons in SQL on both databases.
    idle_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    command_count: Mapped[int] = mapped_column(Integer)
