"""Authentication for client routes: ``require_scope(Scope.READ)``, ``ApiReader`` and friends.

A route declares the scope it needs; the dependency authenticates the credential, counts the
request against a rate limit and checks the scope. Authentication runs once per request
however many scope checks a route declares.

Credentials, whichever way they come (see :func:`authenticate_credentials`):

* ``X-API-Key: K`` or ``Authorization: Bearer K`` with an API key ``ph_…``;
* ``Authorization: Bearer <JWT>`` with a bearer JWT (``auth.tokens``);
* for WebSockets, which browsers cannot give headers, also ``?token=<JWT or API key>``.

Two families of routes:

* the Debug API (Kubently): ``ReadPrincipal``/``AdminPrincipal`` = :func:`require_scope`,
  counted against the flat per-key ``api`` limit;
* the Cluster API (Kubilitics, ``/api/v1``): ``ApiReader``, ``ApiWriter``, ``ApiDeleter``,
  ``ApiExecutor``, ``ApiAdmin`` = :func:`require_api`, counted against the tiered
  ``cluster_read``/``cluster_write`` limits (see ``ratelimit.service``).

WebSocket routes call :func:`authenticate_websocket` and, when it raises, pass the error to
:func:`reject_websocket`::

    @router.websocket("/api/v1/ws")
    async def watch(websocket: WebSocket) -> None:
        try:
            principal = await authenticate_websocket(websocket, Scope.READ)
        except ApiError as exc:
            await reject_websocket(websocket, exc)
            return
        await websocket.accept()
        ...
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from fastapi import Depends, Request, WebSocket, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import State
from starlette.requests import HTTPConnection

from pilothouse.auth.principal import Principal, Scope, TokenKind
from pilothouse.auth.service import KEY_PREFIX, AccessGuard, Authenticator
from pilothouse.auth.tokens import TokenVerifier, looks_like_jwt
from pilothouse.errors import ApiError, BadRequest, InvalidToken, Unauthorized, error_response
from pilothouse.observability.logging import bind_principal
from pilothouse.observability.middleware import CORRELATION_ID_HEADER
from pilothouse.ratelimit.middleware import remember_rate_limit
from pilothouse.ratelimit.service import LimitCategory, RateLimiter, RateTier

SERVICE_IDENTITY_HEADER = "X-Service-Identity"
API_KEY_HEADER = "X-API-Key"
TOKEN_QUERY_PARAMETER = "token"  # noqa: S105 - a parameter name
# Stored in the audit trail and logs: plain tokens only.
_SERVICE_IDENTITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}")
# Request state key: the Cluster API categories this request was already counted against.
_COUNTED_STATE_KEY = "api_rate_limits_counted"
# Request state key: the principal, once authenticated.
_PRINCIPAL_STATE_KEY = "principal"

# auto_error=False: a missing credential is our 401 in the common error body. These objects
# also document both header styles in the OpenAPI schema.
_api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="API key (ph_…)")
_bearer = HTTPBearer(auto_error=False, description="Bearer JWT, or an API key (ph_…) as a bearer token")


# async although it awaits nothing: FastAPI runs plain def dependencies in a thread pool,
# which would cost a thread hop on every request.
async def get_authenticator(request: Request) -> Authenticator:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator


async def get_access_guard(request: Request) -> AccessGuard:
    guard: AccessGuard = request.app.state.access_guard
    return guard


async def get_token_verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier


AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]
AccessGuardDep = Annotated[AccessGuard, Depends(get_access_guard)]
TokenVerifierDep = Annotated[TokenVerifier, Depends(get_token_verifier)]


def service_identity(connection: HTTPConnection) -> str | None:
    value = connection.headers.get(SERVICE_IDENTITY_HEADER)
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


async def authenticate_credentials(
    state: State, presented: str | None, *, service_identity: str | None = None
) -> Principal:
    """The principal of an API key or bearer JWT, for HTTP and WebSocket routes alike.

    ``state`` is ``app.state`` (``request.app.state``, ``websocket.app.state``). A value
    starting ``ph_`` is an API key; anything else with two dots is tried as a JWT; the rest
    is refused as an invalid API key. Raises Unauthorized (``unauthorized``,
    ``token_expired``, ``token_revoked``); checks no scope and counts no limit.
    """
    if presented and looks_like_jwt(presented) and not presented.startswith(f"{KEY_PREFIX}_"):
        verifier: TokenVerifier | None = getattr(state, "token_verifier", None)
        if verifier is None:
            # An app assembled without the token router: refuse clearly rather than 500.
            raise InvalidToken("Bearer JWTs are not accepted by this server")
        return await verifier.authenticate(presented, service_identity=service_identity)
    if not presented:
        raise Unauthorized(
            f"Missing credentials: send Authorization: Bearer <token or API key> or {API_KEY_HEADER}"
        )
    authenticator: Authenticator = state.authenticator
    return await authenticator.authenticate(presented, service_identity=service_identity)


def _presented(api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    # X-API-Key first: the A2A document keeps Authorization free for OIDC tokens.
    return api_key or (bearer.credentials if bearer is not None else None)


# Declared by every principal dependency: FastAPI reads both headers and documents both styles
# as the routes' security schemes in the OpenAPI schema.
ApiKeyCredential = Annotated[str | None, Depends(_api_key_header)]
BearerCredential = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def request_principal(request: Request, presented: str | None) -> Principal:
    """The request's principal from ``presented`` (API key or JWT), authenticated once per
    request however many dependencies ask; no limit, no scope."""
    state: dict[str, Any] = request.scope.setdefault("state", {})
    principal: Principal | None = state.get(_PRINCIPAL_STATE_KEY)
    if principal is None:
        principal = await authenticate_credentials(
            request.app.state, presented, service_identity=service_identity(request)
        )
        bind_principal(principal.key_id)
        state[_PRINCIPAL_STATE_KEY] = principal
    return principal


def _principal_dependency(
    scope: Scope, category: LimitCategory, name: str
) -> Callable[..., Awaitable[Principal]]:
    # One dependency rather than a chain of small ones: FastAPI spends tens of microseconds on
    # every node of a dependency graph on every request, more than the work each one does.
    async def principal_with_scope(
        request: Request, api_key: ApiKeyCredential, bearer: BearerCredential
    ) -> Principal:
        principal = await request_principal(request, _presented(api_key, bearer))
        state = request.app.state
        await count_api_request(request, state.rate_limiter, principal, category)
        guard: AccessGuard = state.access_guard
        await guard.require_scope(principal, scope)
        return principal

    principal_with_scope.__name__ = name
    return principal_with_scope


def require_scope(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A Debug API dependency giving the request's principal, counted against the per-key
    ``api`` limit, refusing it (403) without ``scope``."""
    return _principal_dependency(scope, LimitCategory.API, f"require_{scope.value}_scope")


ReadPrincipal = Annotated[Principal, Depends(require_scope(Scope.READ))]
AdminPrincipal = Annotated[Principal, Depends(require_scope(Scope.ADMIN))]


# --- Cluster API (Kubilitics) -------------------------------------------------------------


def rate_tier(principal: Principal) -> RateTier:
    """Kubilitics tier: admin JWTs and admin-scoped API keys are ADMIN, service JWTs SERVICE.

    A user JWT stays USER even with the admin scope: the multiplier belongs to the kind of
    token an operator chose to issue, not to what it may do.
    """
    if principal.token_kind is TokenKind.ADMIN or (
        principal.token_kind is TokenKind.API_KEY and principal.is_admin
    ):
        return RateTier.ADMIN
    if principal.token_kind is TokenKind.SERVICE:
        return RateTier.SERVICE
    return RateTier.USER


async def count_api_request(
    connection: HTTPConnection, limiter: RateLimiter, principal: Principal, category: LimitCategory
) -> None:
    """Count one request of ``category`` for ``principal`` (429 when over), once per request."""
    state: dict[str, Any] = connection.scope.setdefault("state", {})
    counted: set[LimitCategory] = state.setdefault(_COUNTED_STATE_KEY, set())
    if category in counted:
        return
    counted.add(category)
    current = await limiter.hit(category, principal.key_id, tier=rate_tier(principal))
    if isinstance(connection, Request):
        remember_rate_limit(connection, current)


def require_api(scope: Scope, category: LimitCategory) -> Callable[..., Awaitable[Principal]]:
    """A Cluster API dependency: authenticate (API key or JWT), count ``category``, check ``scope``.

    Refusals: 401 (no or bad credential), 429 ``rate_limit_exceeded``, 403
    ``insufficient_scope`` (audited). The rate limit is counted before the scope check, so
    a client probing for scopes it lacks spends its allowance doing so.
    """
    return _principal_dependency(scope, category, f"require_api_{scope.value}_{category.value}")


ApiReader = Annotated[Principal, Depends(require_api(Scope.READ, LimitCategory.CLUSTER_READ))]
ApiWriter = Annotated[Principal, Depends(require_api(Scope.WRITE, LimitCategory.CLUSTER_WRITE))]
ApiDeleter = Annotated[Principal, Depends(require_api(Scope.DELETE, LimitCategory.CLUSTER_WRITE))]
ApiExecutor = Annotated[Principal, Depends(require_api(Scope.EXEC, LimitCategory.CLUSTER_WRITE))]
ApiAdmin = Annotated[Principal, Depends(require_api(Scope.ADMIN, LimitCategory.CLUSTER_WRITE))]
# Admin reads (listings): the admin scope, counted as a read.
ApiAdminReader = Annotated[Principal, Depends(require_api(Scope.ADMIN, LimitCategory.CLUSTER_READ))]


def log_stream_slot(limiter: RateLimiter, principal: Principal) -> AbstractAsyncContextManager[None]:
    """``async with log_stream_slot(limiter, principal): <stream>``: one of the principal's
    concurrent log streams (100 for a user, times the tier multiplier); 429 when all are taken."""
    return limiter.log_streams.hold(principal.key_id, tier=rate_tier(principal))


# --- WebSockets ---------------------------------------------------------------------------


def websocket_credentials(websocket: WebSocket) -> str | None:
    """The credential of a WebSocket handshake: headers as for HTTP, else ``?token=``."""
    header_key = websocket.headers.get(API_KEY_HEADER)
    if header_key:
        return header_key
    scheme, _, value = websocket.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return websocket.query_params.get(TOKEN_QUERY_PARAMETER) or None


async def authenticate_websocket(
    websocket: WebSocket,
    scope: Scope = Scope.READ,
    category: LimitCategory | None = LimitCategory.CLUSTER_READ,
) -> Principal:
    """Authenticate a WebSocket handshake before accepting it; raises ApiError.

    Counts the connection once against ``category`` (None: not at all) and checks ``scope``
    (403, audited), as :func:`require_api` does for HTTP.
    """
    state = websocket.app.state
    principal = await authenticate_credentials(
        state, websocket_credentials(websocket), service_identity=service_identity(websocket)
    )
    bind_principal(principal.key_id)
    if category is not None:
        await count_api_request(websocket, state.rate_limiter, principal, category)
    guard: AccessGuard = state.access_guard
    await guard.require_scope(principal, scope)
    return principal


async def reject_websocket(websocket: WebSocket, exc: ApiError) -> None:
    """Refuse a handshake that has not been accepted.

    With the ASGI denial-response extension (uvicorn, Starlette's TestClient) the client gets
    the same HTTP status, headers and error body as an HTTP route would send; otherwise the
    handshake is closed with 1008 (policy violation) and the error code as the reason.
    """
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(error_response(exc))
        return
    # A close reason is at most 123 bytes.
    reason = f"{exc.status_code} {exc.error}"[:123]
    await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason=reason)
