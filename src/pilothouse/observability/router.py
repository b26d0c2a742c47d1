"""GET /health (Kubently, Kubilitics) and GET /metrics (Prometheus text)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from pilothouse.dependencies import HealthDep, MetricsDep

router = APIRouter(tags=["system"])

_HEALTH_EXAMPLE: dict[str, Any] = {
    "status": "healthy",
    "version": "0.1.0",
    "timestamp": "2026-01-01T12:00:00.000Z",
    "uptime_seconds": 3600,
    "redis": "connected",
    "database": "connected",
    "dependencies": {"database": "healthy", "redis_cache": "healthy", "bus": "healthy"},
}


@router.get(
    "/health",
    summary="Service health and dependency connectivity",
    responses={
        200: {"description": "Healthy", "content": {"application/json": {"example": _HEALTH_EXAMPLE}}},
        503: {"description": "A critical dependency is unavailable"},
    },
)
async def health(checker: HealthDep) -> JSONResponse:
    report = await checker.report()
    return JSONResponse(report.body, status_code=200 if report.healthy else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(registry: MetricsDep) -> Response:
    body, content_type = registry.render()
    return Response(body, media_type=content_type)
