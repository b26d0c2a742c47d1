"""/clusters (registry and status), /clusters/{id}/ping, and the executor's POST /agent/discovery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, FastAPI, Path, Request

from pilothouse.audit.clock import Clock, utc_now
from pilothouse.auth.dependencies import AccessGuardDep, AdminPrincipal, ReadPrincipal
from pilothouse.clusters.dependencies import ClusterRegistryDep, ExecutorDep
from pilothouse.clusters.ids import CLUSTER_ID_PATTERN
from pilothouse.clusters.schemas import (
    ClusterList,
    ClusterOut,
    ClusterStatus,
    DiscoveryAccepted,
    DiscoveryReport,
    DiscoverySummary,
    ExecutorOut,
    PingResult,
)
from pilothouse.clusters.service import ClusterRegistry
from pilothouse.commands.dependencies import CommandServiceDep, command_services
from pilothouse.dependencies import DatabaseDep
from pilothouse.ratelimit.middleware import remember_rate_limit
from pilothouse.ratelimit.service import LimitCategory
from pilothouse.routing import LeanRoute
from pilothouse.sessions.dependencies import SessionServiceDep
from pilothouse.settings import Settings


@asynccontextmanager
async def clusters_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    clock: Clock = getattr(app.state, "clock", utc_now)
    app.state.cluster_registry = ClusterRegistry(app.state.database, settings, clock=clock)
    yield


router = APIRouter(tags=["clusters"])
# The ping is a command (see pilothouse.routing).
lean_router = APIRouter(tags=["clusters"], route_class=LeanRoute)

ClusterIdPath = Annotated[str, Path(pattern=CLUSTER_ID_PATTERN, max_length=63)]


@router.get("/clusters", summary="List registered clusters (admin)")
async def list_clusters(
    principal: AdminPrincipal, registry: ClusterRegistryDep, database: DatabaseDep
) -> ClusterList:
    async with database.session() as session:
        rows = await registry.all_clusters(session)
    clusters = [
        ClusterOut(
            cluster_id=row.id,
            name=row.name,
            status="connected" if registry.is_connected(row.last_seen) else "disconnected",
            agent_version=row.agent_version,
            last_seen=row.last_seen,
            transport=row.transport,
            security_mode=row.security_mode,
            created_at=row.created_at,
        )
        for row in rows
    ]
    return ClusterList(clusters=clusters, total=len(clusters))


@router.get("/clusters/{cluster_id}/status", summary="Connection and workload status of a cluster")
async def cluster_status(
    cluster_id: ClusterIdPath,
    principal: ReadPrincipal,
    guard: AccessGuardDep,
    registry: ClusterRegistryDep,
    sessions: SessionServiceDep,
    commands: CommandServiceDep,
    database: DatabaseDep,
) -> ClusterStatus:
    await guard.require_cluster(principal, cluster_id)
    async with database.session() as session:
        cluster = await registry.view(cluster_id, session)
        executors = await registry.executors(session, cluster_id)
        discovery = await registry.discovery_summary(session, cluster_id)
    connected = registry.is_connected(cluster.last_seen)
    return ClusterStatus(
        cluster_id=cluster.id,
        name=cluster.name,
        status="connected" if connected else "disconnected",
        connected=connected,
        agent_version=cluster.agent_version,
        last_seen=cluster.last_seen,
        active_sessions=await sessions.count_live(cluster_id),
        queue_depth=await commands.queue_depth(cluster_id),
        transport=cluster.transport,
        security_mode=cluster.security_mode.value,
        executors=[
            ExecutorOut(
                executor_id=executor.executor_id,
                version=executor.version,
                inflight=executor.inflight,
                last_seen=executor.last_seen,
                connected=registry.is_connected(executor.last_seen),
            )
            for executor in executors
        ],
        discovery=DiscoverySummary(resources=discovery[0], reported_at=discovery[1]) if discovery else None,
    )


@lean_router.post(
    "/clusters/{cluster_id}/ping",
    summary="Round trip through the cluster's executor",
)
async def ping_cluster(cluster_id: ClusterIdPath, request: Request, principal: ReadPrincipal) -> PingResult:
    guard, limiter, commands = command_services(request)
    await guard.require_cluster(principal, cluster_id)
    prepared = await commands.prepare_ping(cluster_id)
    remember_rate_limit(request, await limiter.hit(LimitCategory.COMMANDS, cluster_id))
    row, round_trip_ms = await commands.ping(principal, prepared)
    return PingResult(
        cluster_id=cluster_id,
        round_trip_ms=round(round_trip_ms, 3),
        command_id=row.id,
        output=row.output,
        executed_at=row.result_received_at,
    )


@router.post("/agent/discovery", tags=["executor"], summary="Report the cluster's resource types (executor)")
async def report_discovery(
    body: DiscoveryReport, executor: ExecutorDep, registry: ClusterRegistryDep
) -> DiscoveryAccepted:
    count = await registry.record_discovery(
        executor.cluster_id, [resource.model_dump() for resource in body.resources]
    )
    return DiscoveryAccepted(message="Discovery stored", cluster_id=executor.cluster_id, resources=count)
