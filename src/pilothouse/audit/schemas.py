"""API shapes of the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: datetime
    action: str
    outcome: str
    key_id: str | None
    principal_name: str | None
    service_identity: str | None
    correlation_id: str | None
    request_id: str | None
    cluster_id: str | None
    session_id: str | None
    command_id: str | None
    args: list[str] | None
    reason: str | None
    duration_ms: int | None
    details: dict[str, Any] | None


class AuditPage(BaseModel):
    events: list[AuditEventOut]
    total: int
    limit: int
    offset: int
