"""Investigations as stored: the request, the progress, and the diagnosis once done."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pilothouse.audit.clock import UtcDateTime
from pilothouse.store.database import Base


class Investigation(Base):
    __tablename__ = "ai_investigations"
    __table_args__ = (
        Index("ix_ai_investigations_status_started_at", "status", "started_at"),
        Index("ix_ai_investigations_namespace", "namespace"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cluster_id: Mapped[str] = mapped_column(String(63))
    # pending, in_progress, completed, failed
    status: Mapped[str] = mapped_column(String(16))
    resource_kind: Mapped[str] = mapped_column(String(100))
    namespace: Mapped[str | None] = mapped_column(String(253))
    resource_name: Mapped[str] = mapped_column(String(253))
    symptoms: Mapped[list[str]] = mapped_column(JSON)
    scope: Mapped[str] = mapped_column(String(16))
    search_window_minutes: Mapped[int] = mapped_column(Integer)
    progress_percent: Mapped[int] = mapped_column(Integer)
    progress_message: Mapped[str | None] = mapped_column(String(500))
    severity: Mapped[str | None] = mapped_column(String(16))
    top_cause: Mapped[str | None] = mapped_column(String(64))
    findings_summary: Mapped[str | None] = mapped_column(Text)
    recommendations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # The whole diagnosis: ranked findings with their evidence.
    diagnosis: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_key: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
