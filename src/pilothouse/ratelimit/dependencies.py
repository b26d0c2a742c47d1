"""The process-wide rate limiter, for routers and other capabilities' dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pilothouse.ratelimit.service import RateLimiter


# async although it awaits nothing: FastAPI runs plain def dependencies in a thread pool,
# which would cost a thread hop on every request.
async def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
