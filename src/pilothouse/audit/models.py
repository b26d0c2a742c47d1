"""The audit trail: one append-only table for every security-relevant event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pilothouse.audit.clock import UtcDateTime
from pilothouse.store.database import Base

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
_EVENT_ID = BigInteger().with_variant(Integer(), "sqlite")


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_occurred_at", "occurred_at"),
        Index("ix_audit_events_cluster_id_occurred_at", "cluster_id", "occurred_at"),
        Index("ix_audit_events_action", "action"),
        Index("ix_audit_events_key_id", "key_id"),
        Index("ix_audit_events_correlation_id", "correlation_id"),
    )

    id: Mapped[int] = mapped_column(_EVENT_ID, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Dotted verb, e.g. "command.execute", "session.create", "key.revoke", "auth.denied".
    action: Mapped[str] = mapped_column(String(64))
    # success, failure, timeout, denied.
    outcome: Mapped[str] = mapped_column(String(32))
    # Who: the API key (id and name at the time), or "cli:<user>" with no key id.
    key_id: Mapped[str | None] = mapped_column(String(64))
    principal_name: Mapped[str | None] = mapped_column(String(200))
    service_identity: Mapped[str | None] = mapped_column(String(200))
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(200))
    cluster_id: Mapped[str | None] = mapped_column(String(63))
    session_id: Mapped[str | None] = mapped_column(String(64))
    command_id: Mapped[str | None] = mapped_column(String(64))
    args: Mapped[list[str] | None] = mapped_column(JSON)
    # Why it was denied or failed, in words (the policy's reason, the missing scope).
    reason: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
