"""Health: what the server can truthfully say about itself and its dependencies.

The report is a superset of the specs' /health bodies: Kubently (``status``, ``redis``,
``version``, ``uptime_seconds``, ``active_sessions``), Kubently A2A (``timestamp``) and
Kubilitics (``dependencies``, and on failure ``error`` and ``retry_after_seconds``).

Capabilities contribute fields (Kubently's ``active_sessions``) by registering a
contributor; a contributor that fails or is slow is reported, never fatal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pilothouse import __version__
from pilothouse.bus.base import Bus
from pilothouse.errors import utc_timestamp
from pilothouse.observability.logging import get_logger
from pilothouse.store.database import Database

log = get_logger(__name__)

Contributor = Callable[[], Awaitable[Mapping[str, Any]]]

# A health probe must answer even when a dependency hangs.
CHECK_TIMEOUT_SECONDS = 2.0
RETRY_AFTER_SECONDS = 30


@dataclass
class HealthReport:
    healthy: bool
    body: dict[str, Any]


async def _check(probe: Callable[[], Awaitable[bool]]) -> bool:
    try:
        return await asyncio.wait_for(probe(), CHECK_TIMEOUT_SECONDS)
    except Exception:
        return False


@dataclass
class HealthChecker:
    database: Database
    bus: Bus
    # The bus is backed by Redis (scaled out) rather than in-process.
    redis_configured: bool
    started_at: float = field(default_factory=time.monotonic)
    contributors: list[Contributor] = field(default_factory=list)

    def add_contributor(self, contributor: Contributor) -> None:
        self.contributors.append(contributor)

    async def report(self) -> HealthReport:
        database_ok, bus_ok = await asyncio.gather(_check(self.database.ping), _check(self.bus.ping))
        if self.redis_configured:
            redis = "connected" if bus_ok else "disconnected"
            redis_dependency = "healthy" if bus_ok else "unhealthy"
        else:
            redis = redis_dependency = "not_configured"
        healthy = database_ok and bus_ok
        body: dict[str, Any] = {
            "status": "healthy" if healthy else "unhealthy",
            "version": __version__,
            "timestamp": utc_timestamp(),
            "uptime_seconds": int(time.monotonic() - self.started_at),
            "redis": redis,
            "database": "connected" if database_ok else "disconnected",
            "dependencies": {
                "database": "healthy" if database_ok else "unhealthy",
                "redis_cache": redis_dependency,
                "bus": "healthy" if bus_ok else "unhealthy",
            },
        }
        for contributor in self.contributors:
            try:
                body.update(await asyncio.wait_for(contributor(), CHECK_TIMEOUT_SECONDS))
            except Exception as exc:
                log.warning("health_contributor_failed", contributor=repr(contributor), error=repr(exc))
        if not healthy:
            down = [name for name, state in body["dependencies"].items() if state == "unhealthy"]
            body["error"] = f"Critical dependencies unavailable: {', '.join(down)}"
            body["retry_after_seconds"] = RETRY_AFTER_SECONDS
        return HealthReport(healthy=healthy, body=body)
