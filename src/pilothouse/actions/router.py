"""``/api/v1/ai/actions/*``, ``/api/v1/ai/config`` and ``/api/v1/ai/status``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path, Query, Request
from pydantic import BaseModel, Field

from pilothouse import __version__
from pilothouse.actions.policy import InsightSettings, InvestigationSettings
from pilothouse.actions.service import ActionService, AiSettingsStore
from pilothouse.auth.dependencies import ApiAdmin, ApiAdminReader, ApiReader, ApiWriter
from pilothouse.errors import NotFound, utc_timestamp
from pilothouse.params import InvalidParameterRoute


@asynccontextmanager
async def actions_lifespan(app: FastAPI) -> AsyncIterator[None]:
    store = AiSettingsStore(app.state.database)
    app.state.ai_settings = store
    app.state.actions = ActionService(app.state.database, app.state.cluster_targets, store)
    yield
    await app.state.actions.close()


router = APIRouter(prefix="/api/v1/ai", tags=["ai"], route_class=InvalidParameterRoute)
ActionId = Annotated[str, Path(max_length=64)]


def _actions(request: Request) -> ActionService:
    service: ActionService = request.app.state.actions
    return service


class ApproveBody(BaseModel):
    approval_notes: str | None = Field(default=None, max_length=4000)
    require_verification: bool = True


class RejectBody(BaseModel):
    reason: str | None = Field(default=None, max_length=4000)
    notes: str | None = Field(default=None, max_length=4000)


@router.get("/actions/pending", summary="Proposed actions awaiting approval")
async def pending_actions(
    request: Request,
    principal: ApiReader,
    severity: Literal["critical", "high", "medium", "low", "info"] | None = None,
    investigation_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    total, items = await _actions(request).pending(
        severity=severity, investigation_id=investigation_id, limit=limit, allowed=principal.clusters
    )
    return {"total_count": total, "pending_actions": items}


@router.get("/actions/{action_id}", summary="One action, in any status, with its history")
async def get_action(request: Request, action_id: ActionId, principal: ApiReader) -> dict[str, Any]:
    body = await _actions(request).get(action_id)
    if not principal.may_access_cluster(body["cluster_id"]):
        raise NotFound.of("action", action_id)
    return body


@router.post("/actions/{action_id}/approve", summary="Approve: dry run, apply, then verify")
async def approve_action(
    request: Request, action_id: ActionId, principal: ApiWriter, body: ApproveBody | None = None
) -> dict[str, Any]:
    service = _actions(request)
    current = await service.get(action_id)
    await request.app.state.access_guard.require_cluster(principal, current["cluster_id"])
    chosen = body or ApproveBody()
    return await service.approve(
        action_id,
        principal.actor(),
        notes=chosen.approval_notes,
        require_verification=chosen.require_verification,
    )


@router.post("/actions/{action_id}/reject", summary="Reject a proposed action")
async def reject_action(
    request: Request, action_id: ActionId, principal: ApiWriter, body: RejectBody | None = None
) -> dict[str, Any]:
    service = _actions(request)
    current = await service.get(action_id)
    await request.app.state.access_guard.require_cluster(principal, current["cluster_id"])
    chosen = body or RejectBody()
    return await service.reject(action_id, principal.actor(), reason=chosen.reason or chosen.notes)


class ConfigUpdate(BaseModel):
    safety_policy: dict[str, Any] | None = None
    investigation_settings: dict[str, Any] | None = None
    insight_settings: dict[str, Any] | None = None
    # Accepted for compatibility; there is no LLM to configure yet (see /api/v1/ai/status).
    llm_configuration: dict[str, Any] | None = None
    chat_settings: dict[str, Any] | None = None
    feature_flags: dict[str, Any] | None = None


def _config_body(loaded: dict[str, Any]) -> dict[str, Any]:
    return {
        "llm_configuration": None,
        "safety_policy": loaded["safety_policy"].model_dump(),
        "investigation_settings": loaded["investigation_settings"].model_dump(),
        "insight_settings": loaded["insight_settings"].model_dump(),
        "feature_flags": {
            "llm": False,
            "deterministic_analyzers": True,
            "cost_optimization": True,
            "security_recommendations": True,
        },
    }


@router.get("/config", summary="AI configuration: safety policy and settings (admin)")
async def get_config(request: Request, principal: ApiAdminReader) -> dict[str, Any]:
    store: AiSettingsStore = request.app.state.ai_settings
    return _config_body(await store.load())


@router.put("/config", summary="Update the AI configuration (admin); applies to new requests at once")
async def put_config(request: Request, principal: ApiAdmin, body: ConfigUpdate) -> dict[str, Any]:
    store: AiSettingsStore = request.app.state.ai_settings
    changes = {
        name: value
        for name, value in (
            ("safety_policy", body.safety_policy),
            ("investigation_settings", body.investigation_settings),
            ("insight_settings", body.insight_settings),
        )
        if value is not None
    }
    updated = await store.update(changes, principal.actor())
    ignored = [
        name
        for name in ("llm_configuration", "chat_settings", "feature_flags")
        if getattr(body, name) is not None
    ]
    return {
        "message": "Configuration updated successfully",
        "updated_fields": updated,
        "ignored_sections": ignored,
        "effective_timestamp": utc_timestamp(),
        "restart_required": False,
        "configuration": _config_body(await store.load()),
    }


@router.get("/status", summary="What the AI service is: deterministic analyzers, no LLM configured")
async def ai_status(request: Request, principal: ApiReader) -> dict[str, Any]:
    investigations = request.app.state.investigations
    loaded = await request.app.state.ai_settings.load()
    investigation_settings: InvestigationSettings = loaded["investigation_settings"]
    insight_settings: InsightSettings = loaded["insight_settings"]
    return {
        "status": "operational",
        "mode": "deterministic",
        "version": __version__,
        "llm_provider": None,
        "llm_configured": False,
        "message": "No LLM is configured: investigations and insights come from deterministic analyzers.",
        "token_usage": None,
        "request_queue": {
            "in_progress": investigations.running,
            "max_concurrent_per_user": investigation_settings.max_concurrent_investigations,
        },
        "insights": {
            "scan_interval_seconds": insight_settings.scan_interval_seconds,
            "enabled": insight_settings.enabled,
        },
        "vector_store": None,
    }
