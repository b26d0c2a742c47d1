"""/debug/execute(/async), /debug/operations, /debug/result (clients) and /agent/commands,
/agent/results, /agent/status (executors)."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request, Response, status

from pilothouse.audit.clock import Clock, utc_now
from pilothouse.auth.dependencies import ReadPrincipal, client_correlation_id
from pilothouse.auth.principal import Principal
from pilothouse.auth.service import AccessGuard
from pilothouse.clusters.dependencies import ExecutorDep, authenticated_executor
from pilothouse.clusters.service import ClusterRegistry
from pilothouse.commands.dependencies import CommandServiceDep, command_services
from pilothouse.commands.retention import CommandRetention
from pilothouse.commands.schemas import (
    AgentStatus,
    AsyncAccepted,
    CommandResultOut,
    ExecuteRequest,
    ExecutorCommands,
    OperationOut,
    ResultAccepted,
    ResultSubmission,
    command_id_of,
    operation_id_of,
)
from pilothouse.commands.service import CommandRequest, CommandService, PreparedCommand
from pilothouse.errors import BadRequest, NotFound
from pilothouse.observability.logging import bind_cluster
from pilothouse.observability.metrics import CommandMetrics
from pilothouse.ratelimit.middleware import remember_rate_limit
from pilothouse.ratelimit.service import LimitCategory, RateLimiter
from pilothouse.routing import LeanRoute
from pilothouse.sessions.dependencies import SessionServiceDep
from pilothouse.settings import Settings

REQUEST_TIMEOUT_HEADER = "X-Request-Timeout"
MAX_POLL_WAIT_SECONDS = 60


@asynccontextmanager
async def commands_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    clock: Clock = getattr(app.state, "clock", utc_now)
    service = CommandService(
        app.state.database,
        app.state.bus,
        app.state.cluster_registry,
        app.state.session_service,
        settings,
        clock=clock,
        metrics=CommandMetrics(app.state.metrics.registry),
    )
    app.state.command_service = service
    retention = CommandRetention(app.state.database, settings.command_retention_days, clock=clock)
    app.state.command_retention = retention
    await service.start_background()
    retention.start()
    try:
        yield
    finally:
        await retention.stop()
        await service.stop_background()


router = APIRouter()
# The routes every command passes through (see pilothouse.routing).
lean_router = APIRouter(route_class=LeanRoute)


def request_timeout(request: Request) -> float | None:
    value = request.headers.get(REQUEST_TIMEOUT_HEADER)
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise BadRequest(
            f"{REQUEST_TIMEOUT_HEADER} must be a positive number of seconds",
            details={"field": REQUEST_TIMEOUT_HEADER},
        )
    return seconds


async def _admit(
    body: ExecuteRequest,
    request: Request,
    principal: Principal,
    guard: AccessGuard,
    limiter: RateLimiter,
    commands: CommandService,
) -> PreparedCommand:
    """Everything a command must pass before it is stored: allowlist, policy, scope, limit."""
    bind_cluster(body.cluster_id)
    await guard.require_cluster(principal, body.cluster_id)
    prepared = await commands.prepare(
        principal,
        CommandRequest(
            cluster_id=body.cluster_id,
            command_type=body.command_type,
            args=body.args,
            session_id=body.session_id,
            correlation_id=body.correlation_id or client_correlation_id(request),
            namespace=body.namespace,
            timeout_seconds=body.requested_timeout,
            request_timeout=request_timeout(request),
        ),
    )
    await guard.require_scope(principal, prepared.required_scope, cluster_id=body.cluster_id)
    remember_rate_limit(request, await limiter.hit(LimitCategory.COMMANDS, body.cluster_id))
    return prepared


# The hot routes take the process-wide services from app.state rather than as dependencies
# (see command_services).


def _executor_services(request: Request) -> tuple[ClusterRegistry, CommandService]:
    state = request.app.state
    return state.cluster_registry, state.command_service


@lean_router.post(
    "/debug/execute",
    tags=["commands"],
    summary="Run a kubectl command and wait for its result",
)
async def execute(body: ExecuteRequest, request: Request, principal: ReadPrincipal) -> CommandResultOut:
    guard, limiter, commands = command_services(request)
    prepared = await _admit(body, request, principal, guard, limiter, commands)
    row = await commands.submit(principal, prepared)
    return CommandResultOut.of(await commands.run(row, prepared.wait_seconds))


@lean_router.post(
    "/debug/execute/async",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["commands"],
    summary="Queue a kubectl command; poll /debug/operations/{operation_id}",
)
async def execute_async(body: ExecuteRequest, request: Request, principal: ReadPrincipal) -> AsyncAccepted:
    guard, limiter, commands = command_services(request)
    prepared = await _admit(body, request, principal, guard, limiter, commands)
    # Durable before the 202: the caller will look the id up, possibly on another replica.
    row = await commands.submit(principal, prepared, durable=True)
    await commands.start(row)
    operation_id = operation_id_of(row.id)
    return AsyncAccepted(
        operation_id=operation_id,
        poll_url=f"/debug/operations/{operation_id}",
        command_id=row.id,
        result_id=row.id,
        result_url=f"/debug/result/{row.id}",
        created_at=row.created_at,
    )


@router.get("/debug/operations/{operation_id}", tags=["commands"], summary="State of an async command")
async def get_operation(
    operation_id: str, principal: ReadPrincipal, commands: CommandServiceDep
) -> OperationOut:
    command_id = command_id_of(operation_id)
    if command_id is None:
        raise NotFound.of("operation", operation_id)
    try:
        row = await commands.result_for(principal, command_id)
    except NotFound:
        raise NotFound.of("operation", operation_id) from None
    return OperationOut.of(row)


@router.get("/debug/result/{result_id}", tags=["commands"], summary="Result of a command")
async def get_result(
    result_id: str, principal: ReadPrincipal, commands: CommandServiceDep
) -> CommandResultOut:
    return CommandResultOut.of(await commands.result_for(principal, result_id))


@lean_router.get(
    "/agent/commands",
    tags=["executor"],
    summary="Long poll for commands (executor)",
    response_model=ExecutorCommands,
    responses={204: {"description": "No command arrived within the wait"}},
)
async def poll_commands(
    request: Request, wait: Annotated[float, Query(ge=0, le=MAX_POLL_WAIT_SECONDS)] = 30
) -> ExecutorCommands | Response:
    registry, commands = _executor_services(request)
    executor = await authenticated_executor(request, registry)
    leasing = asyncio.ensure_future(commands.lease(executor, wait))
    hung_up = asyncio.ensure_future(_client_disconnected(request))
    try:
        await asyncio.wait({leasing, hung_up}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hung_up.cancel()
    if not leasing.done():
        # The executor went away (stopped, restarted, network cut): stop competing for its
        # cluster's commands, or this orphaned poll would take the next one and nobody would
        # run it until its lease expired. It also lets the server shut down without waiting.
        leasing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await leasing
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    leased = leasing.result()
    if not leased:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return ExecutorCommands(commands=leased)


async def _client_disconnected(request: Request) -> None:
    """Returns when the client closes the connection (the poll's request body is empty)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


@lean_router.post("/agent/results", tags=["executor"], summary="Submit a command result (executor)")
async def submit_result(body: ResultSubmission, request: Request) -> ResultAccepted:
    registry, commands = _executor_services(request)
    executor = await authenticated_executor(request, registry)
    stored = await commands.store_result(executor, body.command_id, body.result)
    return ResultAccepted(
        message="Result stored successfully" if stored else "Result already stored; this one was ignored",
        command_id=body.command_id,
        stored=stored,
    )


@router.get("/agent/status", tags=["executor"], summary="Queue depth and activity of the cluster (executor)")
async def agent_status(
    executor: ExecutorDep, commands: CommandServiceDep, sessions: SessionServiceDep
) -> AgentStatus:
    depth = await commands.queue_depth(executor.cluster_id)
    live_sessions = await sessions.count_live(executor.cluster_id)
    return AgentStatus(
        cluster_id=executor.cluster_id, is_active=depth > 0 or live_sessions > 0, queue_depth=depth
    )
