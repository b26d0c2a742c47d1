"""Moving-window rate limits backed by the ``limits`` library.

Moving window rather than fixed window: "100 requests per minute" then holds for every 60 s
span, so a client cannot send 200 requests across a window boundary. Counters live in memory
(one process) or, when ``redis_url`` is set, in Redis, so that replicas share them.

If Redis cannot be reached the request is let through and a warning logged: rate limits
protect capacity, they are not an access control, and an outage of the counter store should
not become an outage of the API.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import redis.asyncio as aioredis
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from pilothouse.errors import RateLimited
from pilothouse.observability.logging import get_logger
from pilothouse.settings import RateLimitSettings

log = get_logger(__name__)

WINDOW = "1m"


class LimitCategory(StrEnum):
    # Every authenticated client request, per API key.
    API = "api"
    # Commands sent to one cluster, whoever sends them.
    COMMANDS = "commands"
    # Debug sessions created, per API key.
    SESSIONS = "sessions"


_DESCRIPTIONS = {
    LimitCategory.API: "requests per minute for this API key",
    LimitCategory.COMMANDS: "commands per minute for this cluster",
    LimitCategory.SESSIONS: "sessions per minute for this API key",
}


@dataclass(frozen=True, slots=True)
class RateLimitStatus:
    """One limit as it stands after a request counted against it."""

    limit: int
    remaining: int
    # Epoch seconds when the oldest counted request leaves the window.
    reset_at: float

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": str(int(self.reset_at)),
        }


def more_restrictive(first: RateLimitStatus | None, second: RateLimitStatus) -> RateLimitStatus:
    """The status a client should see when a request counted against several limits."""
    if first is None:
        return second
    return min(first, second, key=lambda status: (status.remaining, status.limit))


class RateLimiter:
    def __init__(self, settings: RateLimitSettings, *, redis_url: str | None, key_prefix: str) -> None:
        self.enabled = settings.enabled
        self._items: dict[LimitCategory, RateLimitItem] = {
            LimitCategory.API: RateLimitItemPerMinute(settings.api_requests_per_key_per_minute),
            LimitCategory.COMMANDS: RateLimitItemPerMinute(settings.commands_per_cluster_per_minute),
            LimitCategory.SESSIONS: RateLimitItemPerMinute(settings.sessions_per_key_per_minute),
        }
        self._pool: aioredis.ConnectionPool | None = None
        storage: MemoryStorage | RedisStorage
        if redis_url:
            # Our own pool, so that shutdown can close the connections (limits has no close).
            self._pool = aioredis.ConnectionPool.from_url(
                redis_url, socket_timeout=2.0, socket_connect_timeout=2.0
            )
            storage = RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                key_prefix=f"{key_prefix}ratelimit",
                wrap_exceptions=True,
                # limits types its options as scalars but hands them to redis.asyncio.Redis,
                # which takes a pool (RedispyBridge.use_basic looks for this one).
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
        else:
            storage = MemoryStorage()
        self._strategy = MovingWindowRateLimiter(storage)

    def limit_of(self, category: LimitCategory) -> int:
        return self._items[category].amount

    async def hit(self, category: LimitCategory, identity: str) -> RateLimitStatus | None:
        """Count one request; raises RateLimited when over the limit. None when not limiting."""
        if not self.enabled:
            return None
        item = self._items[category]
        try:
            allowed = await self._strategy.hit(item, category.value, identity)
            stats = await self._strategy.get_window_stats(item, category.value, identity)
        except StorageError as exc:
            log.warning("rate_limit_storage_unavailable", category=category.value, error=str(exc))
            return None
        status = RateLimitStatus(
            limit=item.amount, remaining=max(0, stats.remaining), reset_at=stats.reset_time
        )
        if not allowed:
            raise RateLimited(
                max(1.0, status.reset_at - time.time()),
                limit=item.amount,
                window=WINDOW,
                reset_at=datetime.fromtimestamp(status.reset_at, UTC),
                message=f"Rate limit exceeded: at most {item.amount} {_DESCRIPTIONS[category]}",
                details={"category": category.value},
            )
        return status

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
