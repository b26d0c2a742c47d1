"""/api/v1/auth/tokens: issue bearer JWTs, revoke them, list revocations (admin).

The router's lifespan also creates the process's :class:`TokenVerifier`
(``app.state.token_verifier``), which every route that authenticates uses to accept JWTs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, FastAPI, Path, status

from pilothouse.audit.clock import Clock, utc_now
from pilothouse.auth import tokens
from pilothouse.auth.dependencies import AccessGuardDep, ApiAdmin, ApiAdminReader, TokenVerifierDep
from pilothouse.auth.token_schemas import (
    RevokedTokenList,
    RevokedTokenOut,
    TokenCreate,
    TokenIssued,
    TokenRevoke,
)
from pilothouse.dependencies import DatabaseDep
from pilothouse.errors import Forbidden
from pilothouse.observability.logging import get_logger
from pilothouse.settings import ConfigurationError, Settings

log = get_logger(__name__)

MIN_SECRET_BYTES = 32


@asynccontextmanager
async def token_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if settings.jwt_secret is None or not settings.jwt_secret.get_secret_value():
        # The app's own lifespan resolves the secret (ensure_jwt_secret) before routers start.
        raise ConfigurationError("jwt_secret is not set; the application lifespan should have set it")
    secret = settings.jwt_secret.get_secret_value()
    if len(secret.encode()) < MIN_SECRET_BYTES:
        # RFC 7518 section 3.2: an HS256 key shorter than the hash output is guessable sooner.
        log.warning("jwt_secret_too_short", length=len(secret.encode()), recommended=MIN_SECRET_BYTES)
    clock: Clock = getattr(app.state, "clock", utc_now)
    app.state.token_verifier = tokens.TokenVerifier(
        app.state.database,
        secret=secret,
        refresh_seconds=settings.auth_cache_seconds,
        clock=clock,
    )
    yield


router = APIRouter(prefix="/api/v1/auth/tokens", tags=["auth"])

JtiPath = Annotated[str, Path(pattern=f"^{tokens.JTI_PATTERN}$", description="The token's jti claim")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Issue a bearer JWT (admin); the token is shown only in this answer",
)
async def issue_token(
    body: TokenCreate,
    principal: ApiAdmin,
    guard: AccessGuardDep,
    verifier: TokenVerifierDep,
    database: DatabaseDep,
) -> TokenIssued:
    if principal.clusters is not None:
        # A credential confined to some clusters must not mint one that reaches others.
        if body.cluster_id is None:
            raise Forbidden(
                "This credential is limited to some clusters; a token it issues must name one (cluster_id)",
                details={"allowed_clusters": sorted(principal.clusters)},
            )
        await guard.require_cluster(principal, body.cluster_id)
    async with database.session() as session:
        issued = await tokens.issue_token(
            session,
            secret=verifier.secret,
            sub=body.sub,
            scopes=body.scopes,
            kind=body.kind,
            cluster_id=body.cluster_id,
            namespace=body.namespace,
            ttl_seconds=body.ttl_seconds,
            actor=principal.actor(),
            now=verifier.clock(),
        )
    return TokenIssued.of(issued)


@router.post("/{jti}/revoke", summary="Revoke a bearer JWT by its jti (admin); takes effect at once")
async def revoke_token(
    jti: JtiPath,
    principal: ApiAdmin,
    verifier: TokenVerifierDep,
    database: DatabaseDep,
    body: TokenRevoke | None = None,
) -> RevokedTokenOut:
    async with database.session() as session:
        row = await tokens.revoke_token(
            session,
            jti,
            actor=principal.actor(),
            now=verifier.clock(),
            reason=body.reason if body is not None else None,
        )
        answer = RevokedTokenOut.of(row)
    # After the commit: this process refuses the token from the next request on; other
    # processes within auth_cache_seconds, when they reload the list.
    verifier.mark_revoked(answer.jti, answer.expires_at)
    return answer


@router.get("/revoked", summary="Revoked bearer JWTs still on record (admin)")
async def list_revoked(principal: ApiAdminReader, database: DatabaseDep) -> RevokedTokenList:
    async with database.session() as session:
        rows = await tokens.list_revoked(session)
        answer = [RevokedTokenOut.of(row) for row in rows]
    return RevokedTokenList(tokens=answer, total=len(answer))
