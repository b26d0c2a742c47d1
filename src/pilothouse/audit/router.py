"""GET /debug/audit (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from pilothouse.audit.schemas import AuditEventOut, AuditPage
from pilothouse.audit.service import AuditQuery, search
from pilothouse.auth.dependencies import AdminPrincipal
from pilothouse.dependencies import DatabaseDep

router = APIRouter(tags=["audit"])


@router.get("/debug/audit", summary="Query the audit trail (admin)")
async def query_audit(
    principal: AdminPrincipal,
    database: DatabaseDep,
    cluster_id: str | None = None,
    principal_filter: Annotated[
        str | None, Query(alias="principal", description="Key id, key name or service identity")
    ] = None,
    action: Annotated[str | None, Query(description='e.g. "command.execute", or "command" for all')] = None,
    outcome: str | None = None,
    correlation_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AuditPage:
    query = AuditQuery(
        cluster_id=cluster_id,
        principal=principal_filter,
        action=action,
        outcome=outcome,
        correlation_id=correlation_id,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    async with database.session() as session:
        events, total = await search(session, query)
    return AuditPage(
        events=[AuditEventOut.model_validate(event) for event in events],
        total=total,
        limit=limit,
        offset=offset,
    )
