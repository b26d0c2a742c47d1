"""Request identity, access log, metrics and the last-resort 500, as one pure ASGI middleware.

Pure ASGI (not Starlette's BaseHTTPMiddleware) so that streaming responses, Server-Sent
Events and WebSockets pass through untouched and the request context is the same object
the handlers see.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pilothouse.errors import PayloadTooLarge, error_response, internal_error_response, new_request_id
from pilothouse.observability.logging import get_logger, request_context
from pilothouse.observability.metrics import UNMATCHED_ROUTE, Metrics, method_label

ACCESS_LOGGER = "pilothouse.access"
log = get_logger(ACCESS_LOGGER)

_Identity = list[tuple[bytes, bytes]]

REQUEST_ID_HEADER = "X-Request-ID"
CORRELATION_ID_HEADER = "X-Correlation-ID"
API_VERSION_HEADER = "X-API-Version"
# The API version the specs publish (Kubently: "X-API-Version: 1.0.0"), not the package version.
API_VERSION = "1.0.0"
_REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode()
_CORRELATION_ID_KEY = CORRELATION_ID_HEADER.lower().encode()
_API_VERSION_KEY = API_VERSION_HEADER.lower().encode()
_API_VERSION_VALUE = API_VERSION.encode()
# Requests whose access log line is written at debug level: probes, scrapes and the executor
# protocol (a long poll and a result per command; each command has its own audit event).
QUIET_PATHS = frozenset({"/health", "/metrics", "/agent/commands", "/agent/results"})

# Client-supplied ids end up in logs and response headers: accept only short, plain tokens.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=@-]{0,127}")
# Status recorded when the client went away before any response was started.
_CLIENT_CLOSED = 499


def _safe_id(value: str | None) -> str | None:
    if value and _SAFE_ID.fullmatch(value):
        return value
    return None


def _with_headers(headers: Iterable[tuple[bytes, bytes]], extra: _Identity) -> list[tuple[bytes, bytes]]:
    """``headers`` (raw ASGI pairs) plus those of ``extra`` they do not already carry."""
    merged = list(headers)
    present = {bytes(name).lower() for name, _ in merged}
    merged.extend(pair for pair in extra if pair[0] not in present)
    return merged


def route_template(scope: Scope) -> str:
    """The matched route's path template, never the raw path (bounded metric labels)."""
    route = scope.get("route")
    if route is None and scope.get("endpoint") is not None:
        # FastAPI records scope["route"] only for its own APIRoutes; plain Starlette routes
        # (/openapi.json, /docs) and mounts are found through the endpoint they matched.
        endpoint = scope["endpoint"]
        for candidate in getattr(scope.get("router"), "routes", ()):
            if endpoint in (getattr(candidate, "endpoint", None), getattr(candidate, "app", None)):
                route = candidate
                break
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) and template else UNMATCHED_ROUTE


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics | None = None,
        quiet_paths: frozenset[str] = QUIET_PATHS,
    ) -> None:
        self.app = app
        self.metrics = metrics
        # Probes, scrapes and executor traffic: logged at debug only (see QUIET_PATHS).
        self.quiet_paths = quiet_paths
        self._access = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        # One pass over the raw headers rather than a Headers object and two lookups: this runs
        # on every request.
        request_id = correlation_id = None
        seen: set[bytes] = set()
        for name, value in scope["headers"]:
            # The first of repeated headers counts, as with Headers.get.
            if name in seen:
                continue
            if name == _REQUEST_ID_KEY:
                request_id = _safe_id(value.decode("latin-1"))
                seen.add(name)
            elif name == _CORRELATION_ID_KEY:
                correlation_id = _safe_id(value.decode("latin-1"))
                seen.add(name)
        request_id = request_id or new_request_id()
        correlation_id = correlation_id or request_id
        with request_context(request_id, correlation_id):
            identity = [
                (_REQUEST_ID_KEY, request_id.encode()),
                (_CORRELATION_ID_KEY, correlation_id.encode()),
                (_API_VERSION_KEY, _API_VERSION_VALUE),
            ]
            if scope["type"] == "http":
                await self._http(scope, receive, send, identity)
            else:
                await self._websocket(scope, receive, send, identity)

    async def _http(self, scope: Scope, receive: Receive, send: Send, identity: _Identity) -> None:
        started_at = time.perf_counter()
        method = method_label(scope["method"])
        status: int | None = None

        async def send_with_identity(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = _with_headers(message.get("headers", ()), identity)
            await send(message)

        if self.metrics:
            self.metrics.request_started(method)
        try:
            await self.app(scope, receive, send_with_identity)
        except Exception as exc:
            if status is not None:
                # Headers are gone; all that is left is to log and let the server drop
                # the connection.
                log.error("exception_after_response_started", exc_info=exc)
                raise
            # Answered here rather than by Starlette's ServerErrorMiddleware, which sits
            # outside this middleware and would send the 500 without our headers.
            await internal_error_response(exc)(scope, receive, send_with_identity)
        finally:
            duration = time.perf_counter() - started_at
            final_status = status if status is not None else _CLIENT_CLOSED
            route = route_template(scope)
            if self.metrics:
                self.metrics.request_finished(method, route, final_status, duration)
            path = scope.get("path", "")
            level = logging.DEBUG if path in self.quiet_paths else logging.INFO
            # Checked here: a structlog call below the level still costs ~10 µs.
            if self._access.isEnabledFor(level):
                (log.debug if level == logging.DEBUG else log.info)(
                    "http_request",
                    method=scope["method"],
                    path=path,
                    route=route,
                    status=final_status,
                    duration_ms=round(duration * 1000, 2),
                    client=(scope.get("client") or (None,))[0],
                )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send, identity: _Identity) -> None:
        started_at = time.perf_counter()
        accepted = False

        async def send_with_identity(message: Message) -> None:
            nonlocal accepted
            if message["type"] == "websocket.accept":
                accepted = True
                message = {**message, "headers": _with_headers(message.get("headers", ()), identity)}
                if self.metrics:
                    self.metrics.websocket_connections.labels(route_template(scope)).inc()
            await send(message)

        try:
            await self.app(scope, receive, send_with_identity)
        finally:
            log.info(
                "websocket_session",
                path=scope.get("path", ""),
                route=route_template(scope),
                accepted=accepted,
                duration_ms=round((time.perf_counter() - started_at) * 1000, 2),
            )


class _BodyTooLarge(HTTPException):
    """Raised from ``receive``: the framework re-raises HTTPExceptions from body parsing as
    they are, and the error handlers render the 413 in the common error body."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body exceeds {limit} bytes")


class RequestBodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with the common 413 error body.

    Used instead of FastAPI's ``max_body_size``: Starlette's limiter replaces any response
    to an over-long declared body with a plain-text 413 of its own.
    """

    def __init__(self, app: ASGIApp, max_bytes: int | None) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_bytes
        if scope["type"] != "http" or limit is None:
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
                break
        if declared is not None and declared.isdigit() and int(declared) > limit:
            # Refuse before reading a byte of it.
            too_large = PayloadTooLarge(f"Request body exceeds {limit} bytes", details={"limit_bytes": limit})
            await error_response(too_large)(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        await self.app(scope, receive_within_limit, send)
