"""/admin/keys: create (the key is in the answer, once), list and revoke API keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, status

from pilothouse.audit.clock import Clock, utc_now
from pilothouse.auth import service
from pilothouse.auth.dependencies import AdminPrincipal, AuthenticatorDep
from pilothouse.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyOut
from pilothouse.auth.service import AccessGuard, Authenticator
from pilothouse.dependencies import DatabaseDep
from pilothouse.settings import Settings


@asynccontextmanager
async def auth_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    clock: Clock = getattr(app.state, "clock", utc_now)
    authenticator = Authenticator(app.state.database, cache_seconds=settings.auth_cache_seconds, clock=clock)
    if settings.bootstrap_admin_key is not None:
        await authenticator.ensure_bootstrap_key(settings.bootstrap_admin_key.get_secret_value())
    app.state.authenticator = authenticator
    app.state.access_guard = AccessGuard(app.state.database, clock=clock)
    yield


router = APIRouter(prefix="/admin/keys", tags=["auth"])


@router.get("", summary="List API keys (admin)")
async def list_keys(principal: AdminPrincipal, database: DatabaseDep) -> ApiKeyList:
    async with database.session() as session:
        rows = await service.list_keys(session)
    return ApiKeyList(keys=[ApiKeyOut.of(row) for row in rows], total=len(rows))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key (admin); the key is shown only in this answer",
)
async def create_key(
    body: ApiKeyCreate, principal: AdminPrincipal, database: DatabaseDep, authenticator: AuthenticatorDep
) -> ApiKeyCreated:
    async with database.session() as session:
        created = await service.create_key(
            session,
            name=body.name,
            scopes=body.scopes,
            clusters=body.clusters,
            actor=principal.actor(),
            now=authenticator.clock(),
        )
    return ApiKeyCreated(**ApiKeyOut.of(created.row).model_dump(), key=created.plaintext)


@router.delete("/{key_id}", summary="Revoke an API key (admin)")
async def revoke_key(
    key_id: str, principal: AdminPrincipal, database: DatabaseDep, authenticator: AuthenticatorDep
) -> ApiKeyOut:
    async with database.session() as session:
        row = await service.revoke_key(session, key_id, actor=principal.actor(), now=authenticator.clock())
    authenticator.invalidate(key_id)
    return ApiKeyOut.of(row)
