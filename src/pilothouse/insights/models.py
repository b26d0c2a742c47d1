"""Insights as stored: one row per (cluster, finding id), refreshed by every scan."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pilothouse.audit.clock import UtcDateTime
from pilothouse.store.database import Base


class Insight(Base):
    __tablename__ = "ai_insights"
    __table_args__ = (Index("ix_ai_insights_cluster_id_category", "cluster_id", "category"),)

    # Stable: derived from the cluster and the finding's own stable id, so a scan that sees the
    # same problem again updates the same insight (and a dismissal sticks).
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cluster_id: Mapped[str] = mapped_column(String(63))
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text)
    affected: Mapped[dict[str, Any]] = mapped_column(JSON)
    recommendation: Mapped[dict[str, Any]] = mapped_column(JSON)
    finding: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    generated_time: Mapped[datetime] = mapped_column(UtcDateTime())
    # Set when a scan no longer finds it.
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    times_seen: Mapped[int] = mapped_column(Integer)
    dismissed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    dismissed_by: Mapped[str | None] = mapped_column(String(200))
    dismiss_reason: Mapped[str | None] = mapped_column(String(200))
    dismiss_notes: Mapped[str | None] = mapped_column(Text)
