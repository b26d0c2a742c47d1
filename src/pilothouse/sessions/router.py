"""/debug/session, /debug/session/{id}, /debug/sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, status

from pilothouse.audit.clock import Clock, utc_now
from pilothouse.auth.dependencies import AccessGuardDep, AdminPrincipal, ReadPrincipal, client_correlation_id
from pilothouse.clusters.ids import CLUSTER_ID_PATTERN
from pilothouse.observability.health import HealthChecker
from pilothouse.ratelimit.dependencies import RateLimiterDep
from pilothouse.ratelimit.middleware import remember_rate_limit
from pilothouse.ratelimit.service import LimitCategory
from pilothouse.sessions.dependencies import SessionServiceDep
from pilothouse.sessions.schemas import CreateSessionRequest, SessionEnded, SessionList, SessionOut
from pilothouse.sessions.service import NewSession, SessionService, SessionStatus
from pilothouse.settings import Settings


@asynccontextmanager
async def sessions_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    clock: Clock = getattr(app.state, "clock", utc_now)
    service = SessionService(app.state.database, app.state.cluster_registry, settings, clock=clock)
    app.state.session_service = service

    async def active_sessions() -> Mapping[str, Any]:
        # Kubently's /health reports the number of live sessions.
        return {"active_sessions": await service.count_live()}

    health: HealthChecker = app.state.health
    health.add_contributor(active_sessions)
    yield


router = APIRouter(prefix="/debug", tags=["sessions"])


@router.post("/session", status_code=status.HTTP_201_CREATED, summary="Create a debug session")
async def create_session(
    body: CreateSessionRequest,
    request: Request,
    principal: ReadPrincipal,
    guard: AccessGuardDep,
    limiter: RateLimiterDep,
    sessions: SessionServiceDep,
) -> SessionOut:
    await guard.require_cluster(principal, body.cluster_id)
    remember_rate_limit(request, await limiter.hit(LimitCategory.SESSIONS, principal.key_id))
    metadata = body.metadata
    extra = metadata.model_dump(exclude_none=True) if metadata is not None else {}
    row = await sessions.create(
        principal,
        NewSession(
            cluster_id=body.cluster_id,
            ttl_seconds=body.ttl_seconds,
            user_id=body.user_id or (metadata.user if metadata else None),
            correlation_id=body.correlation_id
            or (metadata.correlation_id if metadata else None)
            or client_correlation_id(request),
            service_identity=body.service_identity or principal.service_identity,
            metadata=extra,
        ),
    )
    return SessionOut.of(row, sessions.clock())


@router.get("/session/{session_id}", summary="Get a debug session")
async def get_session(session_id: str, principal: ReadPrincipal, sessions: SessionServiceDep) -> SessionOut:
    row = await sessions.get(principal, session_id)
    return SessionOut.of(row, sessions.clock())


@router.delete("/session/{session_id}", summary="End a debug session")
async def end_session(session_id: str, principal: ReadPrincipal, sessions: SessionServiceDep) -> SessionEnded:
    return SessionEnded.of(await sessions.end(principal, session_id))


@router.get("/sessions", summary="List debug sessions (admin)")
async def list_sessions(
    principal: AdminPrincipal,
    sessions: SessionServiceDep,
    cluster_id: Annotated[str | None, Query(pattern=CLUSTER_ID_PATTERN, max_length=63)] = None,
    status: SessionStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> SessionList:
    rows, total = await sessions.search(cluster_id=cluster_id, status=status, limit=limit)
    now = sessions.clock()
    return SessionList(sessions=[SessionOut.of(row, now) for row in rows], total=total)
