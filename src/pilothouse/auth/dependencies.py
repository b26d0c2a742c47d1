"""Authentication for client routes: ``require_scope(Scope.READ)`` and friends.

A route declares the scope it needs; the dependency authenticates the key (X-API-Key or
Authorization: Bearer), counts the request against the key's rate limit and checks the scope.
Authentication runs once per request however many scope checks a route declares.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from pilothouse.auth.principal import Principal, Scope
from pilothouse.auth.service import AccessGuard, Authenticator
from pilothouse.errors import BadRequest
from pilothouse.observability.logging import bind_principal
from pilothouse.observability.middleware import CORRELATION_ID_HEADER
from pilothouse.ratelimit.dependencies import RateLimiterDep
from pilothouse.ratelimit.middleware import remember_rate_limit
from pilothouse.ratelimit.service import LimitCategory

SERVICE_IDENTITY_HEADER = "X-Service-Identity"
# Stored in the audit trail and logs: plain tokens only.
_SERVICE_IDENTITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}")

# auto_error=False: a missing credential is our 401 in the common error body. These objects
# also document both header styles in the OpenAPI schema.
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (ph_…)")
_bearer = HTTPBearer(auto_error=False, description="API key (ph_…) as a bearer token")


# async although it awaits nothing: FastAPI runs plain def dependencies in a thread pool,
# which would cost a thread hop on every request.
async def get_authenticator(request: Request) -> Authenticator:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator


async def get_access_guard(request: Request) -> AccessGuard:
    guard: AccessGuard = request.app.state.access_guard
    return guard


AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]
AccessGuardDep = Annotated[AccessGuard, Depends(get_access_guard)]


def service_identity(request: Request) -> str | None:
    value = request.headers.get(SERVICE_IDENTITY_HEADER)
    if value is None or value == "":
        return None
    if not _SERVICE_IDENTITY.fullmatch(value):
        raise BadRequest(
            f"{SERVICE_IDENTITY_HEADER} must be a plain token of at most 128 characters",
            details={"field": SERVICE_IDENTITY_HEADER},
        )
    return value


def client_correlation_id(request: Request) -> str | None:
    """The X-Correlation-ID the client sent, if any (not the request id used in its place)."""
    return request.headers.get(CORRELATION_ID_HEADER) or None


async def authenticated_principal(
    request: Request,
    authenticator: AuthenticatorDep,
    limiter: RateLimiterDep,
    api_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    # X-API-Key first: the A2A document keeps Authorization free for OIDC tokens.
    presented = api_key or (bearer.credentials if bearer is not None else None)
    principal = await authenticator.authenticate(presented, service_identity=service_identity(request))
    bind_principal(principal.key_id)
    remember_rate_limit(request, await limiter.hit(LimitCategory.API, principal.key_id))
    return principal


def require_scope(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency giving the request's principal, refusing it (403) without ``scope``."""

    async def principal_with_scope(
        principal: Annotated[Principal, Depends(authenticated_principal)], guard: AccessGuardDep
    ) -> Principal:
        await guard.require_scope(principal, scope)
        return principal

    principal_with_scope.__name__ = f"require_{scope.value}_scope"
    return principal_with_scope


ReadPrincipal = Annotated[Principal, Depends(require_scope(Scope.READ))]
AdminPrincipal = Annotated[Principal, Depends(require_scope(Scope.ADMIN))]
