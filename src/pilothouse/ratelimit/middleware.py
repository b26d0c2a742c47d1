"""Adds the X-RateLimit-* headers of the limits a request counted against to its response.

Limits are counted in dependencies (they need the authenticated key), which cannot touch the
headers of an error response raised later in the same request; this pure ASGI middleware
sets them on whatever response goes out, errors and streams included, without buffering.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pilothouse.ratelimit.service import RateLimitStatus, more_restrictive

# Key in the request state (scope["state"]) shared by the dependencies and this middleware.
STATE_KEY = "rate_limit_status"


def remember_rate_limit(request: Request, status: RateLimitStatus | None) -> None:
    """Record a limit the request counted against; the response shows the most restrictive."""
    if status is None:
        return
    state: dict[str, Any] = request.scope.setdefault("state", {})
    state[STATE_KEY] = more_restrictive(state.get(STATE_KEY), status)


class RateLimitHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The same dict object reaches the handlers as request.state.
        state: dict[str, Any] = scope.setdefault("state", {})

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = state.get(STATE_KEY)
                if isinstance(status, RateLimitStatus):
                    headers = MutableHeaders(scope=message)
                    # A 429 already carries its own (Remaining: 0, Retry-After); keep those.
                    for name, value in status.headers().items():
                        if name not in headers:
                            headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_limits)
