"""Proposed actions and the AI safety policy, as stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pilothouse.audit.clock import UtcDateTime
from pilothouse.store.database import Base


class ProposedAction(Base):
    __tablename__ = "ai_actions"
    __table_args__ = (
        Index("ix_ai_actions_status_proposed_at", "status", "proposed_at"),
        Index("ix_ai_actions_investigation_id", "investigation_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    investigation_id: Mapped[str | None] = mapped_column(String(64))
    cluster_id: Mapped[str] = mapped_column(String(63))
    # pending, approved, executing, applied, verified, failed, rejected, expired
    status: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    action_type: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text)
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)
    # {"spec.template...limits.memory": {"current": "512Mi", "proposed": "1Gi"}}
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The remediation the engine proposed: operation, target, params.
    operation: Mapped[dict[str, Any]] = mapped_column(JSON)
    risk: Mapped[dict[str, Any]] = mapped_column(JSON)
    proposed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_by_key: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    notes: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # [{"at", "status", "by", "note"}], oldest first.
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class AiSetting(Base):
    """One JSON document per name ("safety_policy", "investigation_settings", ...)."""

    __tablename__ = "ai_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str | None] = mapped_column(String(200))
