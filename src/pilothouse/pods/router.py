"""``GET /api/v1/pods/{ns}/{name}/logs`` and ``POST /api/v1/pods/{ns}/{name}/exec``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from pilothouse.audit.clock import utc_now
from pilothouse.audit.service import AuditAction, AuditOutcome, record
from pilothouse.auth.dependencies import ApiExecutor, ApiReader, log_stream_slot
from pilothouse.contexts.dependencies import ExecTarget, ReadTarget
from pilothouse.dependencies import DatabaseDep, SettingsDep
from pilothouse.errors import ApiError
from pilothouse.pods import service
from pilothouse.pods.service import MAX_TAIL_LINES, LogOptions, PodLocks


@asynccontextmanager
async def pods_lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Exec and shell sessions take a pod's lock, so commands run one at a time per pod.
    app.state.pod_locks = PodLocks()
    yield


router = APIRouter(prefix="/api/v1/pods", tags=["pods"])

NamespacePath = Annotated[str, Path(max_length=253)]
NamePath = Annotated[str, Path(max_length=253)]


class ExecBody(BaseModel):
    command: list[str] = Field(min_length=1, max_length=256, description="argv; no shell is added")
    working_dir: str | None = Field(default=None, max_length=4096)
    environment: dict[str, str] = Field(default_factory=dict, max_length=128)


def _wants_event_stream(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


async def _as_events(lines: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for chunk in lines:
        yield b"".join(b"data: " + line + b"\n\n" for line in chunk.splitlines())


@router.get(
    "/{namespace}/{name}/logs", summary="A container's log; follow=true streams it", response_class=Response
)
async def pod_logs(
    request: Request,
    namespace: NamespacePath,
    name: NamePath,
    principal: ApiReader,
    target: ReadTarget,
    container: Annotated[str | None, Query(max_length=253)] = None,
    follow: bool = False,
    tail_lines: Annotated[int, Query(ge=0, le=MAX_TAIL_LINES)] = 100,
    timestamps: bool = True,
    since_time: datetime | None = None,
    until_time: datetime | None = None,
    search: Annotated[str | None, Query(max_length=1024)] = None,
    previous: bool = False,
) -> Response:
    options = LogOptions(
        container=container,
        tail_lines=tail_lines,
        timestamps=timestamps,
        since_time=since_time,
        until_time=until_time,
        search=search or None,
        previous=previous,
    )
    if not follow:
        body = await service.read_logs(target, namespace, name, options)
        return Response(body, media_type="text/plain; charset=utf-8")
    slot = log_stream_slot(request.app.state.rate_limiter, principal)
    await slot.__aenter__()
    try:
        lines = await service.follow_logs(target, namespace, name, options)
    except BaseException:
        await slot.__aexit__(None, None, None)
        raise

    async def body_stream() -> AsyncIterator[bytes]:
        try:
            source = _as_events(lines) if _wants_event_stream(request) else lines
            async for chunk in source:
                yield chunk
        finally:
            await slot.__aexit__(None, None, None)

    media_type = "text/event-stream" if _wants_event_stream(request) else "text/plain; charset=utf-8"
    return StreamingResponse(
        body_stream(), media_type=media_type, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


@router.post("/{namespace}/{name}/exec", summary="Run a command in a container; exit code and output")
async def pod_exec(
    request: Request,
    namespace: NamespacePath,
    name: NamePath,
    body: ExecBody,
    principal: ApiExecutor,
    target: ExecTarget,
    database: DatabaseDep,
    settings: SettingsDep,
    container: Annotated[str | None, Query(max_length=253)] = None,
    timeout_seconds: Annotated[int, Query(ge=1, le=300)] = 30,
) -> dict[str, Any]:
    started = time.monotonic()
    outcome, reason, exit_code = AuditOutcome.SUCCESS, None, None
    try:
        result = await service.run_exec(
            target,
            request.app.state.pod_locks,
            namespace,
            name,
            container=container,
            command=body.command,
            working_dir=body.working_dir,
            environment=body.environment,
            timeout_seconds=timeout_seconds,
            max_output_bytes=settings.max_output_bytes,
        )
        exit_code = result.exit_code
        return result.body()
    except ApiError as error:
        outcome = AuditOutcome.TIMEOUT if error.status_code == 408 else AuditOutcome.FAILURE
        reason = error.message
        exit_code = error.details.get("exit_code")
        raise
    finally:
        async with database.session() as session:
            record(
                session,
                action=AuditAction.POD_EXEC,
                outcome=outcome,
                actor=principal.actor(),
                occurred_at=utc_now(),
                cluster_id=target.id,
                args=body.command,
                reason=reason,
                duration_ms=int((time.monotonic() - started) * 1000),
                details={"namespace": namespace, "pod": name, "container": container, "exit_code": exit_code},
            )
