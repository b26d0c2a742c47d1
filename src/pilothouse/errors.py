"""One error model for every API surface.

Services raise :class:`ApiError` subclasses (they carry no HTTP types beyond a status
number); :func:`install_error_handlers` turns those, framework errors and unexpected
exceptions into one JSON body, a superset of the error shapes of all specs::

    {"error": "not_found", "message": "Session not found: s-1",
     "details": {"resource": "session", "id": "s-1", "code": "SESSION_NOT_FOUND"},
     "code": 404, "request_id": "req-...", "trace_id": "req-...",
     "timestamp": "2026-01-01T12:00:00.000Z"}

``error`` is the snake_case code (Kubilitics, Agentbox, Kubently A2A), ``details.code``
the UPPER_CASE code of the Kubently reference, ``code`` the HTTP status (Agentbox,
Kagent) and ``trace_id`` the correlation id (Kubilitics). See docs/compat.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from pilothouse.ids import random_hex
from pilothouse.observability.logging import current_context, get_logger

log = get_logger(__name__)


class ErrorCode(StrEnum):
    """UPPER_CASE codes carried in ``details.code`` (Kubently reference, extended)."""

    INVALID_REQUEST = "INVALID_REQUEST"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    UNAUTHORIZED = "UNAUTHORIZED"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"  # noqa: S105 - an error code
    TOKEN_REVOKED = "TOKEN_REVOKED"  # noqa: S105 - an error code
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
    CLUSTER_NOT_FOUND = "CLUSTER_NOT_FOUND"
    COMMAND_NOT_FOUND = "COMMAND_NOT_FOUND"
    OPERATION_NOT_FOUND = "OPERATION_NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    COMMAND_FORBIDDEN = "COMMAND_FORBIDDEN"
    CONFLICT = "CONFLICT"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    GONE = "GONE"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RATE_LIMITED = "RATE_LIMITED"
    TIMEOUT = "TIMEOUT"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    AGENT_DISCONNECTED = "AGENT_DISCONNECTED"


class ErrorBody(BaseModel):
    """The error body, for OpenAPI (every route documents it as its ``default`` response)."""

    error: str = Field(description="snake_case error code", examples=["not_found"])
    message: str = Field(description="Human-readable description")
    details: dict[str, Any] = Field(description="Context; details.code is the UPPER_CASE code")
    code: int = Field(description="HTTP status", examples=[404])
    request_id: str
    trace_id: str = Field(description="Correlation id (X-Correlation-ID, else the request id)")
    timestamp: str = Field(description="RFC 3339 UTC")
    retry_after: int | None = Field(default=None, description="Seconds to wait (429 only)")


class ApiError(Exception):
    """An error meant for the client. Subclasses set the defaults; instances may override."""

    status_code: int = 500
    # Detail fields a spec also wants at the top level of the body (``valid_kinds``, ...).
    top_level: tuple[str, ...] = ()
    error: str = "internal_error"
    code: str = ErrorCode.INTERNAL_ERROR
    default_message: str = "An unexpected error occurred"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Mapping[str, Any] | None = None,
        error: str | None = None,
        code: str | None = None,
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)
        self.details: dict[str, Any] = dict(details or {})
        if error is not None:
            self.error = error
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.headers: dict[str, str] = dict(headers or {})

    def extra_body(self) -> dict[str, Any]:
        """Top-level fields of the body: the ``top_level`` details (a subclass may add more)."""
        return {name: self.details[name] for name in self.top_level if name in self.details}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status_code}, {self.error!r}, {self.message!r})"


class BadRequest(ApiError):
    status_code = 400
    error = "invalid_request"
    code = ErrorCode.INVALID_REQUEST
    default_message = "Malformed request"


class Unauthorized(ApiError):
    status_code = 401
    error = "unauthorized"
    code = ErrorCode.UNAUTHORIZED
    default_message = "Missing or invalid authentication"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class InvalidToken(Unauthorized):
    """A bearer JWT that is malformed, badly signed or carries unusable claims (RFC 6750)."""

    default_message = "Invalid bearer token"

    def __init__(
        self, message: str | None = None, *, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> None:
        # RFC 6750 section 3: a token that was presented but is unusable is "invalid_token",
        # which tells a client to get a new one rather than retry.
        merged = {"WWW-Authenticate": 'Bearer error="invalid_token"', **(headers or {})}
        super().__init__(message, headers=merged, **kwargs)


class TokenExpired(InvalidToken):
    error = "token_expired"
    code = ErrorCode.TOKEN_EXPIRED
    default_message = "The bearer token has expired"


class TokenRevoked(InvalidToken):
    error = "token_revoked"
    code = ErrorCode.TOKEN_REVOKED
    default_message = "The bearer token has been revoked"


class Forbidden(ApiError):
    status_code = 403
    error = "forbidden"
    code = ErrorCode.FORBIDDEN
    default_message = "Insufficient permissions"


class InsufficientScope(Forbidden):
    error = "insufficient_scope"
    default_message = "The credential does not include the required scope"

    def __init__(self, required_scope: str, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message or f"This operation requires the '{required_scope}' scope", **kwargs)
        self.details.setdefault("required_scope", required_scope)


class NotFound(ApiError):
    status_code = 404
    error = "not_found"
    code = ErrorCode.NOT_FOUND
    default_message = "Resource not found"

    @classmethod
    def of(cls, resource: str, identifier: str) -> NotFound:
        """``NotFound.of("session", "s-1")``: message and details.code name the resource."""
        return cls(
            f"{resource.replace('_', ' ').capitalize()} not found: {identifier}",
            code=f"{resource.upper()}_NOT_FOUND",
            details={"resource": resource, "id": identifier},
        )


class MethodNotAllowed(ApiError):
    status_code = 405
    error = "method_not_allowed"
    code = ErrorCode.METHOD_NOT_ALLOWED
    default_message = "Method not allowed"


class RequestTimeout(ApiError):
    status_code = 408
    error = "timeout"
    code = ErrorCode.TIMEOUT
    default_message = "The operation timed out"


class Conflict(ApiError):
    status_code = 409
    error = "resource_conflict"
    code = ErrorCode.CONFLICT
    default_message = "Resource state conflict"


class AlreadyExists(Conflict):
    error = "already_exists"
    code = ErrorCode.ALREADY_EXISTS
    default_message = "Resource already exists"


class Gone(ApiError):
    status_code = 410
    error = "gone"
    code = ErrorCode.GONE
    default_message = "The resource is no longer available"


class PayloadTooLarge(ApiError):
    status_code = 413
    error = "payload_too_large"
    code = ErrorCode.PAYLOAD_TOO_LARGE
    default_message = "Request body too large"


class ValidationFailed(ApiError):
    status_code = 422
    error = "validation_failed"
    code = ErrorCode.VALIDATION_ERROR
    default_message = "Validation failed"

    def __init__(
        self,
        message: str | None = None,
        *,
        errors: Sequence[Mapping[str, Any]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        if errors:
            self.details["errors"] = [dict(item) for item in errors]


class CommandForbidden(ApiError):
    """A command refused by the kubectl policy (Kubently: 422 COMMAND_FORBIDDEN)."""

    status_code = 422
    error = "command_forbidden"
    code = ErrorCode.COMMAND_FORBIDDEN
    default_message = "Command not allowed"


class RateLimited(ApiError):
    status_code = 429
    error = "rate_limited"
    code = ErrorCode.RATE_LIMITED
    default_message = "Rate limit exceeded"

    def __init__(
        self,
        retry_after: float,
        *,
        limit: int | None = None,
        window: str | None = None,
        reset_at: datetime | None = None,
        message: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        # Whole seconds, rounded up: Retry-After must be an integer, and retrying early
        # would only be refused again.
        self.retry_after = max(1, math.ceil(retry_after))
        self.details.setdefault("retry_after", self.retry_after)
        if window is not None:
            self.details.setdefault("window", window)
        if reset_at is None:
            reset_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=self.retry_after)
        self.details.setdefault("reset_at", _isoformat(reset_at))
        self.headers.setdefault("Retry-After", str(self.retry_after))
        self.headers.setdefault("X-RateLimit-Reset", str(int(reset_at.timestamp())))
        self.headers.setdefault("X-RateLimit-Reset-After", str(self.retry_after))
        self.headers.setdefault("X-RateLimit-Remaining", "0")
        if limit is not None:
            self.details.setdefault("limit", limit)
            self.headers.setdefault("X-RateLimit-Limit", str(limit))

    def extra_body(self) -> dict[str, Any]:
        return {"retry_after": self.retry_after}


class RateLimitExceeded(RateLimited):
    """The Kubilitics spelling of a 429 (``rate_limit_exceeded``), for the Cluster API.

    The Debug API keeps ``rate_limited``, which its clients already match on.
    """

    error = "rate_limit_exceeded"


class InternalError(ApiError):
    pass


class UpstreamError(ApiError):
    """A dependency (Kubernetes API, an LLM provider) answered with an error."""

    status_code = 502
    error = "upstream_error"
    code = ErrorCode.UPSTREAM_ERROR
    default_message = "An upstream service returned an error"


class ServiceUnavailable(ApiError):
    status_code = 503
    error = "service_unavailable"
    code = ErrorCode.SERVICE_UNAVAILABLE
    default_message = "Service temporarily unavailable"

    def __init__(self, message: str | None = None, *, retry_after: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        if retry_after is not None:
            self.headers.setdefault("Retry-After", str(retry_after))
            self.details.setdefault("retry_after", retry_after)


class AgentDisconnected(ServiceUnavailable):
    code = ErrorCode.AGENT_DISCONNECTED
    default_message = "Cluster agent is not connected"

    def __init__(self, cluster_id: str, *, last_seen: datetime | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.details.setdefault("cluster_id", cluster_id)
        self.details.setdefault("last_seen", _isoformat(last_seen) if last_seen else None)


def _isoformat(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix and millisecond precision."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def isoformat_or_none(moment: datetime | None) -> str | None:
    """A stored moment as RFC 3339 in UTC (``Z``), or None."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def utc_timestamp() -> str:
    return _isoformat(datetime.now(UTC))


def new_request_id() -> str:
    return f"req-{random_hex()}"


def error_body(exc: ApiError) -> dict[str, Any]:
    context = current_context()
    request_id = context.request_id if context else new_request_id()
    correlation_id = context.correlation_id if context else request_id
    details = {**exc.details, "code": str(exc.code)}
    body: dict[str, Any] = {
        "error": exc.error,
        "message": exc.message,
        "details": details,
        "code": exc.status_code,
        "request_id": request_id,
        "trace_id": correlation_id,
        "timestamp": utc_timestamp(),
    }
    body.update(exc.extra_body())
    encoded: dict[str, Any] = jsonable_encoder(body)
    return encoded


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(error_body(exc), status_code=exc.status_code, headers=exc.headers or None)


# Framework errors carry only a status; this gives each a stable snake/UPPER code pair.
_HTTP_STATUS_CODES: dict[int, tuple[str, str]] = {
    400: ("invalid_request", ErrorCode.INVALID_REQUEST),
    401: ("unauthorized", ErrorCode.UNAUTHORIZED),
    403: ("forbidden", ErrorCode.FORBIDDEN),
    404: ("not_found", ErrorCode.NOT_FOUND),
    405: ("method_not_allowed", ErrorCode.METHOD_NOT_ALLOWED),
    408: ("timeout", ErrorCode.TIMEOUT),
    409: ("resource_conflict", ErrorCode.CONFLICT),
    410: ("gone", ErrorCode.GONE),
    413: ("payload_too_large", ErrorCode.PAYLOAD_TOO_LARGE),
    415: ("unsupported_media_type", ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    422: ("validation_failed", ErrorCode.VALIDATION_ERROR),
    429: ("rate_limited", ErrorCode.RATE_LIMITED),
    500: ("internal_error", ErrorCode.INTERNAL_ERROR),
    502: ("upstream_error", ErrorCode.UPSTREAM_ERROR),
    503: ("service_unavailable", ErrorCode.SERVICE_UNAVAILABLE),
}


def from_http_exception(exc: StarletteHTTPException, request: Request | None = None) -> ApiError:
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = "Error"
    error, code = _HTTP_STATUS_CODES.get(
        exc.status_code, (phrase.lower().replace(" ", "_").replace("-", "_"), f"HTTP_{exc.status_code}")
    )
    details: dict[str, Any] = {}
    # Starlette types detail as str, FastAPI's subclass allows any JSON value.
    detail: Any = exc.detail
    if isinstance(detail, str):
        message = detail
    else:
        message = phrase
        details["detail"] = detail
    if request is not None and exc.status_code in (404, 405) and message == phrase:
        # The framework's own "Not Found"/"Method Not Allowed": say what did not match.
        message = f"{phrase}: {request.method} {request.url.path}"
    return ApiError(message, status_code=exc.status_code, error=error, code=code, details=details)


_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


def validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI/pydantic errors as ``{"field", "location", "message", "type"}`` items.

    The offending input is left out on purpose: it may be a password or a token.
    """
    items: list[dict[str, Any]] = []
    for raw in errors:
        loc = [str(part) for part in raw.get("loc", ())]
        location = loc[0] if loc and loc[0] in _LOCATIONS else None
        path = loc[1:] if location else loc
        items.append(
            {
                "field": ".".join(path) if path else (location or ""),
                "location": location,
                "message": str(raw.get("msg", "")),
                "type": str(raw.get("type", "")),
            }
        )
    return items


def exception_response(exc: Exception, request: Request | None = None) -> Response | None:
    """The common error response for an error meant for the client (ours, the framework's HTTP
    errors, request validation errors); None for anything else, which is a bug (500)."""
    if isinstance(exc, ApiError):
        if exc.status_code >= 500:
            log.warning("api_error", status=exc.status_code, error=exc.error, message=exc.message)
        return error_response(exc)
    if isinstance(exc, StarletteHTTPException):
        api_error = from_http_exception(exc, request)
        if exc.headers:
            api_error.headers.update(exc.headers)
        return error_response(api_error)
    if isinstance(exc, RequestValidationError):
        return error_response(ValidationFailed(errors=validation_errors(exc.errors())))
    return None


async def _handle_client_error(request: Request, exc: Exception) -> Response:
    response = exception_response(exc, request)
    assert response is not None, f"registered for client errors only, got {exc!r}"
    return response


def internal_error_response(exc: BaseException) -> JSONResponse:
    """Log the exception with its traceback and answer with a body that reveals nothing of it."""
    log.error("unhandled_exception", exc_info=exc)
    context = current_context()
    details = {"request_id": context.request_id} if context else {}
    return error_response(InternalError(details=details))


async def _handle_unexpected(_request: Request, exc: Exception) -> Response:
    return internal_error_response(exc)


def install_error_handlers(app: FastAPI) -> None:
    for client_error in (ApiError, StarletteHTTPException, RequestValidationError):
        app.add_exception_handler(client_error, _handle_client_error)
    # Reached only when no RequestContextMiddleware is installed: that middleware catches
    # unexpected exceptions first so the 500 still carries the request id headers.
    app.add_exception_handler(Exception, _handle_unexpected)
