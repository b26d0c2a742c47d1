"""FastAPI dependencies giving routers the process-wide resources created by the lifespan.

Routers declare ``database: DatabaseDep`` and hand plain objects to services; services
never see the request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from pilothouse.bus.base import Bus
from pilothouse.observability.health import HealthChecker
from pilothouse.observability.metrics import Metrics
from pilothouse.settings import Settings
from pilothouse.store.database import Database


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_bus(request: Request) -> Bus:
    bus: Bus = request.app.state.bus
    return bus


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def get_health(request: Request) -> HealthChecker:
    health: HealthChecker = request.app.state.health
    return health


async def get_session(database: Annotated[Database, Depends(get_database)]) -> AsyncIterator[AsyncSession]:
    """One unit of work per request: committed if the handler returns, else rolled back."""
    async with database.session() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
BusDep = Annotated[Bus, Depends(get_bus)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
HealthDep = Annotated[HealthChecker, Depends(get_health)]
# scope="function": commit before the response is sent, so a client never acts on a 201 that
# the database does not have yet (request-scoped yield dependencies finish after sending).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
