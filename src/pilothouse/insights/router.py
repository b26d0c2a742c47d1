"""``/api/v1/ai/insights`` (list, dismiss, scan now) and ``/api/v1/ai/analytics/summary``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path, Query, Request
from pydantic import BaseModel, Field

from pilothouse.auth.dependencies import ApiReader, ApiWriter
from pilothouse.contexts.dependencies import WriteTarget
from pilothouse.dependencies import DatabaseDep
from pilothouse.insights.service import InsightService, analytics_summary
from pilothouse.kube.errors import kube_errors
from pilothouse.params import InvalidParameterRoute


@asynccontextmanager
async def insights_lifespan(app: FastAPI) -> AsyncIterator[None]:
    service = InsightService(
        app.state.database, app.state.cluster_registry, app.state.cluster_targets, app.state.ai_settings
    )
    app.state.insights = service
    if app.state.settings.insight_scans:
        service.start()
    yield
    await service.close()


router = APIRouter(prefix="/api/v1/ai", tags=["ai"], route_class=InvalidParameterRoute)


def _service(request: Request) -> InsightService:
    service: InsightService = request.app.state.insights
    return service


class DismissBody(BaseModel):
    reason: str | None = Field(default=None, max_length=200)
    notes: str | None = Field(default=None, max_length=4000)


@router.get("/insights", summary="Health, security, performance and cost insights")
async def list_insights(
    request: Request,
    principal: ApiReader,
    category: Literal["health", "security", "performance", "cost_optimization", "all"] = "all",
    severity: Literal["critical", "warning", "info", "high", "medium", "low"] | None = None,
    dismissed: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cluster: Annotated[str | None, Query(max_length=63)] = None,
) -> dict[str, Any]:
    total, items = await _service(request).list(
        category=category,
        severity=severity,
        dismissed=dismissed,
        limit=limit,
        allowed=principal.clusters,
        cluster_id=cluster,
    )
    return {"total_count": total, "insights": items}


@router.post(
    "/insights/scan", summary="Scan the selected cluster now (insights are also refreshed periodically)"
)
async def scan_now(request: Request, principal: ApiWriter, target: WriteTarget) -> dict[str, Any]:
    with kube_errors(target.id):
        counts = await _service(request).scan_cluster(target.id)
    return {"cluster_id": target.id, **counts}


@router.post("/insights/{insight_id}/dismiss", summary="Dismiss an insight")
async def dismiss_insight(
    request: Request,
    insight_id: Annotated[str, Path(max_length=64)],
    principal: ApiWriter,
    body: DismissBody | None = None,
) -> dict[str, Any]:
    chosen = body or DismissBody()
    return await _service(request).dismiss(
        insight_id, principal.actor(), reason=chosen.reason, notes=chosen.notes, allowed=principal.clusters
    )


@router.get("/analytics/summary", summary="What the AI did over a period, from the stored records")
async def summary(
    request: Request,
    principal: ApiReader,
    database: DatabaseDep,
    time_period: Literal["24h", "7d", "30d", "90d"] = "7d",
) -> dict[str, Any]:
    clock = request.app.state.insights.clock
    return await analytics_summary(database, period=time_period, now=clock(), allowed=principal.clusters)
