"""No routes: limits are counted by the dependencies of other routers. This router carries
the rate limiter's lifecycle, so that app.py registers it like every other capability."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from pilothouse.ratelimit.service import RateLimiter
from pilothouse.settings import Settings


@asynccontextmanager
async def rate_limiter_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    limiter = RateLimiter(
        settings.rate_limits, redis_url=settings.redis_url, key_prefix=settings.redis_key_prefix
    )
    app.state.rate_limiter = limiter
    try:
        yield
    finally:
        await limiter.close()


router = APIRouter()
