"""``POST /api/v1/ai/investigate`` and ``GET /api/v1/ai/investigations[/{id}]``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path, Query, Request, status
from pydantic import BaseModel, Field

from pilothouse.auth.dependencies import ApiReader, ApiWriter
from pilothouse.contexts.dependencies import WriteTarget
from pilothouse.investigations.service import InvestigationService
from pilothouse.params import InvalidParameterRoute


@asynccontextmanager
async def investigations_lifespan(app: FastAPI) -> AsyncIterator[None]:
    service = InvestigationService(app.state.database, app.state.actions, app.state.ai_settings)
    await service.recover()
    app.state.investigations = service
    yield
    await service.close()


router = APIRouter(prefix="/api/v1/ai", tags=["ai"], route_class=InvalidParameterRoute)


class InvestigateBody(BaseModel):
    resource_kind: str = Field(min_length=1, max_length=100, description="Kind, plural or short name")
    namespace: str | None = Field(default=None, max_length=253)
    resource_name: str = Field(min_length=1, max_length=253)
    symptoms: list[Annotated[str, Field(max_length=500)]] = Field(default_factory=list, max_length=20)
    investigation_scope: Literal["quick", "standard", "deep"] = "standard"
    search_window_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)


def _service(request: Request) -> InvestigationService:
    service: InvestigationService = request.app.state.investigations
    return service


@router.post(
    "/investigate", status_code=status.HTTP_202_ACCEPTED, summary="Start an investigation of a resource"
)
async def start_investigation(
    request: Request, body: InvestigateBody, principal: ApiWriter, target: WriteTarget
) -> dict[str, Any]:
    return await _service(request).start(
        target,
        principal.actor(),
        kind=body.resource_kind,
        namespace=body.namespace or principal.namespace or "default",
        name=body.resource_name,
        symptoms=body.symptoms,
        scope=body.investigation_scope,
        search_window_minutes=body.search_window_minutes,
    )


@router.get("/investigations", summary="Investigations, newest first, with filters")
async def list_investigations(
    request: Request,
    principal: ApiReader,
    status: Literal["pending", "in_progress", "completed", "failed"] | None = None,
    namespace: Annotated[str | None, Query(max_length=253)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    sort_by: Literal["start_time", "completion_time", "severity"] = "start_time",
    include_findings: bool = False,
) -> dict[str, Any]:
    total, items = await _service(request).list(
        status=status,
        namespace=namespace,
        limit=limit,
        offset=offset,
        sort_by=sort_by,
        include_findings=include_findings,
        allowed=principal.clusters,
    )
    return {"total_count": total, "items": items}


@router.get("/investigations/{investigation_id}", summary="One investigation: progress, findings, actions")
async def get_investigation(
    request: Request, investigation_id: Annotated[str, Path(max_length=64)], principal: ApiReader
) -> dict[str, Any]:
    return await _service(request).get(investigation_id, allowed=principal.clusters)
