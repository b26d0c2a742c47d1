"""Moving-window rate limits backed by the ``limits`` library.

Moving window rather than fixed window: "100 requests per minute" then holds for every 60 s
span, so a client cannot send 200 requests across a window boundary. Counters live in memory
(one process) or, when ``redis_url`` is set, in Redis, so that replicas share them.

If Redis cannot be reached the request is let through and a warning logged: rate limits
protect capacity, they are not an access control, and an outage of the counter store should
not become an outage of the API.

Two families of limits share this limiter:

* Kubently (Debug API): flat per-minute limits per API key (``API``, ``SESSIONS``) and per
  cluster (``COMMANDS``); a 429 says ``rate_limited``.
* Kubilitics section 17 (Cluster API, ``CLUSTER_READ`` and ``CLUSTER_WRITE``): per principal
  (API key id, or ``jwt:<sub>`` for a bearer JWT) and tiered. How the published numbers are
  read here:

  - **Burst allowance.** "20 additional requests per minute for immediate use, refreshed
    every 60 seconds" is added to the base limit of the same moving window: a user may make
    200 + 20 = 220 reads in any 60 s, all at once if it likes. A separate burst bucket
    would allow the same 220 per minute in the steady state and only differ in how the
    extra 20 recover; one window is one counter per request instead of two.
  - **Multipliers.** "Service tokens have 5x higher limits, admin tokens 10x": the whole
    allowance, burst included, is multiplied, so a service token gets (200 + 20) x 5 =
    1100 reads per minute. The tier is ``ADMIN`` for admin JWTs and API keys with the admin
    scope, ``SERVICE`` for service JWTs, ``USER`` otherwise.
  - ``X-RateLimit-Limit`` shows that effective number (220 for a user's reads), so that
    ``Limit - Remaining`` is always what the client has used; a 429 says
    ``rate_limit_exceeded``.

Concurrency limits ("log streaming: 100 concurrent connections") are not rates; they are
counted in-process by :class:`ConcurrencyLimiter`.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import redis.asyncio as aioredis
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from pilothouse.errors import RateLimited, RateLimitExceeded
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
    # Kubilitics Cluster API reads and writes (write, delete, exec, admin), per principal.
    CLUSTER_READ = "cluster_read"
    CLUSTER_WRITE = "cluster_write"


class RateTier(StrEnum):
    """Kubilitics token tiers: service tokens get 5x the user limits, admin tokens 10x."""

    USER = "user"
    SERVICE = "service"
    ADMIN = "admin"


# Categories whose limit depends on the tier and includes the burst allowance (Kubilitics);
# the others are the flat Kubently limits.
TIERED_CATEGORIES = frozenset({LimitCategory.CLUSTER_READ, LimitCategory.CLUSTER_WRITE})

_DESCRIPTIONS = {
    LimitCategory.API: "requests per minute for this API key",
    LimitCategory.COMMANDS: "commands per minute for this cluster",
    LimitCategory.SESSIONS: "sessions per minute for this API key",
    LimitCategory.CLUSTER_READ: "read requests per minute for this principal",
    LimitCategory.CLUSTER_WRITE: "write requests per minute for this principal",
}


@dataclass(frozen=True, slots=True)
class RateLimitStatus:
    """One limit as it stands after a request counted against it."""

    limit: int
    remaining: int
    # Epoch seconds when the oldest counted request leaves the window.
    reset_at: float

    def reset_after(self, now: float | None = None) -> int:
        """Whole seconds until ``reset_at``, rounded up (waiting less would be too early)."""
        current = time.time() if now is None else now
        return max(0, math.ceil(self.reset_at - current))

    def headers(self, now: float | None = None) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": str(int(self.reset_at)),
            # Kubilitics: what a client should wait, without comparing clocks with the server.
            "X-RateLimit-Reset-After": str(self.reset_after(now)),
        }


class ConcurrencyLimiter:
    """At most ``limit`` (times the tier's multiplier) simultaneous holders per identity.

    ``async with limiter.hold(principal_key, tier=tier): ...`` around a log stream; entering
    raises :class:`RateLimitExceeded` (429) when the identity already holds all its slots,
    leaving releases the slot however the block ends.

    Counted in this process on purpose: a slot is a live connection to this process, so the
    count is exact and dies with it, where a shared counter would leak slots whenever a
    replica crashed. Behind a load balancer with N replicas a principal may therefore hold
    up to N x limit streams.
    """

    def __init__(
        self,
        name: str,
        limit: int,
        *,
        multipliers: Mapping[RateTier, int],
        enabled: bool = True,
        description: str = "concurrent connections for this principal",
        retry_after: float = 5.0,
    ) -> None:
        self.name = name
        self.enabled = enabled
        self._limit = limit
        self._multipliers = dict(multipliers)
        self._description = description
        # A slot frees when some stream ends, which nobody can predict; this is a polite
        # pause rather than a promise.
        self._retry_after = retry_after
        self._active: dict[str, int] = {}

    def limit_for(self, tier: RateTier = RateTier.USER) -> int:
        return self._limit * self._multipliers.get(tier, 1)

    def active(self, identity: str) -> int:
        return self._active.get(identity, 0)

    @asynccontextmanager
    async def hold(self, identity: str, *, tier: RateTier = RateTier.USER) -> AsyncIterator[None]:
        if not self.enabled:
            yield
            return
        limit = self.limit_for(tier)
        # No await between the check and the increment: under asyncio the two are atomic.
        current = self._active.get(identity, 0)
        if current >= limit:
            raise RateLimitExceeded(
                self._retry_after,
                limit=limit,
                message=f"Rate limit exceeded: at most {limit} {self._description}",
                details={"category": self.name, "tier": tier.value, "concurrent": current},
            )
        self._active[identity] = current + 1
        try:
            yield
        finally:
            remaining = self._active.get(identity, 1) - 1
            if remaining > 0:
                self._active[identity] = remaining
            else:
                # Drop idle identities so the dict does not grow with every principal seen.
                self._active.pop(identity, None)


def more_restrictive(first: RateLimitStatus | None, second: RateLimitStatus) -> RateLimitStatus:
    """The status a client should see when a request counted against several limits."""
    if first is None:
        return second
    return min(first, second, key=lambda status: (status.remaining, status.limit))


class RateLimiter:
    def __init__(self, settings: RateLimitSettings, *, redis_url: str | None, key_prefix: str) -> None:
        self.enabled = settings.enabled
        burst = settings.cluster_burst_per_minute
        base: dict[LimitCategory, int] = {
            LimitCategory.API: settings.api_requests_per_key_per_minute,
            LimitCategory.COMMANDS: settings.commands_per_cluster_per_minute,
            LimitCategory.SESSIONS: settings.sessions_per_key_per_minute,
            LimitCategory.CLUSTER_READ: settings.cluster_read_per_minute + burst,
            LimitCategory.CLUSTER_WRITE: settings.cluster_write_per_minute + burst,
        }
        self.burst = burst
        self.multipliers: dict[RateTier, int] = {
            RateTier.USER: 1,
            RateTier.SERVICE: settings.service_token_multiplier,
            RateTier.ADMIN: settings.admin_token_multiplier,
        }
        # One item per (category, tier); flat categories use the same amount for every tier.
        self._items: dict[tuple[LimitCategory, RateTier], RateLimitItem] = {
            (category, tier): RateLimitItemPerMinute(
                amount * (self.multipliers[tier] if category in TIERED_CATEGORIES else 1)
            )
            for category, amount in base.items()
            for tier in RateTier
        }
        self.log_streams = ConcurrencyLimiter(
            "log_streams",
            settings.log_streams_concurrent,
            multipliers=self.multipliers,
            enabled=settings.enabled,
            description="concurrent log streams for this principal",
        )
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

    def limit_of(self, category: LimitCategory, tier: RateTier = RateTier.USER) -> int:
        """The effective per-minute limit (burst and multiplier included for tiered ones)."""
        return self._items[category, tier].amount

    async def hit(
        self, category: LimitCategory, identity: str, *, tier: RateTier = RateTier.USER
    ) -> RateLimitStatus | None:
        """Count one request; raises RateLimited when over the limit. None when not limiting.

        ``tier`` matters only for the tiered (Cluster API) categories. Counters are keyed by
        category, identity and amount, so a principal's reads and writes, and its counts in
        different tiers, are independent.
        """
        if not self.enabled:
            return None
        item = self._items[category, tier]
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
            tiered = category in TIERED_CATEGORIES
            error_class = RateLimitExceeded if tiered else RateLimited
            details: dict[str, str | int] = {"category": category.value}
            if tiered:
                details |= {"tier": tier.value, "burst": self.burst * self.multipliers[tier]}
            raise error_class(
                max(1.0, status.reset_at - time.time()),
                limit=item.amount,
                window=WINDOW,
                reset_at=datetime.fromtimestamp(status.reset_at, UTC),
                message=f"Rate limit exceeded: at most {item.amount} {_DESCRIPTIONS[category]}",
                details=details,
            )
        return status

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
