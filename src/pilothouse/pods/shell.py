"""WebSocket ``/api/v1/shell``: an interactive terminal in a container (a tty exec).

Client: ``{"action": "init", "namespace", "pod_name", "container", "shell", "rows", "cols"}``,
then ``{"type": "input", "data"}`` and ``{"type": "resize", "rows", "cols"}``. Server:
``{"type": "output", "channel": "stdout", "data"}`` as the terminal writes, and finally
``{"type": "exit", "exit_code"}``. At most ``MAX_SHELLS_PER_USER`` at once per user.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncGenerator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from pilothouse.audit.clock import utc_now
from pilothouse.audit.service import AuditAction, AuditOutcome, record
from pilothouse.auth.dependencies import authenticate_websocket, reject_websocket
from pilothouse.auth.principal import Principal, Scope
from pilothouse.contexts.dependencies import target_for
from pilothouse.contexts.service import ClusterTarget
from pilothouse.errors import ApiError, BadRequest, RateLimited
from pilothouse.kube.errors import kube_errors
from pilothouse.kube.ops import ExecRequest, ExecSession
from pilothouse.pods.service import exec_error, pod_container
from pilothouse.policy.objects import Access
from pilothouse.ratelimit.service import LimitCategory

MAX_SHELLS_PER_USER = 10
INIT_TIMEOUT_SECONDS = 30.0
MAX_INPUT_BYTES = 64 * 1024
DEFAULT_SHELL = "/bin/sh"


class ShellSlots:
    """Open shells per principal, in this process."""

    def __init__(self, limit: int = MAX_SHELLS_PER_USER) -> None:
        self.limit = limit
        self._open: dict[str, int] = defaultdict(int)

    @contextlib.contextmanager
    def hold(self, principal: Principal) -> Iterator[None]:
        if self._open[principal.key_id] >= self.limit:
            raise RateLimited(
                5, message=f"At most {self.limit} concurrent shells per user", error="too_many_requests"
            )
        self._open[principal.key_id] += 1
        try:
            yield
        finally:
            self._open[principal.key_id] -= 1
            if not self._open[principal.key_id]:
                del self._open[principal.key_id]


@asynccontextmanager
async def shell_lifespan(app: FastAPI) -> AsyncGenerator[None]:
    app.state.shell_slots = ShellSlots()
    yield


def _slots(websocket: WebSocket) -> ShellSlots:
    slots: ShellSlots = websocket.app.state.shell_slots
    return slots


async def _send(websocket: WebSocket, message: dict[str, Any]) -> None:
    await websocket.send_text(orjson.dumps(message).decode())


async def _receive_json(websocket: WebSocket) -> dict[str, Any] | None:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    raw = message.get("text") or message.get("bytes") or b""
    if len(raw) > MAX_INPUT_BYTES:
        raise BadRequest("message too large")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("messages must be JSON objects") from None
    if not isinstance(value, dict):
        raise BadRequest("messages must be JSON objects")
    return value


async def _open_shell(target: ClusterTarget, init: dict[str, Any]) -> tuple[ExecSession, str, str, str]:
    if init.get("action") != "init" and init.get("type") != "init":
        raise BadRequest('the first message must be {"action": "init", ...}')
    namespace, pod_name = init.get("namespace") or "default", init.get("pod_name") or init.get("pod")
    if not isinstance(pod_name, str) or not pod_name or not isinstance(namespace, str):
        raise BadRequest("init needs pod_name (and namespace)")
    target.require(Access.EXEC, "a shell in a pod")
    _, container = await pod_container(target, namespace, pod_name, init.get("container") or None)
    shell = init.get("shell") or DEFAULT_SHELL
    if not isinstance(shell, str):
        raise BadRequest("shell must be a path")
    rows, cols = init.get("rows"), init.get("cols")
    request = ExecRequest(
        command=(shell,),
        container=container,
        stdin=True,
        tty=True,
        rows=int(rows) if isinstance(rows, int) else None,
        cols=int(cols) if isinstance(cols, int) else None,
    )
    with kube_errors(target.id, kind="Pod", namespace=namespace, name=pod_name):
        session = await target.ops.pod_exec(namespace, pod_name, request)
    return session, namespace, pod_name, container


async def _pump_output(websocket: WebSocket, session: ExecSession) -> None:
    async for piece in session.output():
        await _send(
            websocket,
            {"type": "output", "channel": piece.channel, "data": piece.data.decode("utf-8", "replace")},
        )


async def _pump_input(websocket: WebSocket, session: ExecSession) -> None:
    while (message := await _receive_json(websocket)) is not None:
        kind = message.get("type") or message.get("action")
        if kind == "input" and isinstance(message.get("data"), str):
            await session.write_stdin(message["data"].encode())
        elif (
            kind == "resize" and isinstance(message.get("rows"), int) and isinstance(message.get("cols"), int)
        ):
            await session.resize(message["rows"], message["cols"])
        elif kind == "close":
            return


router = APIRouter(prefix="/api/v1", tags=["pods"])


@router.websocket("/shell")
async def shell_socket(websocket: WebSocket) -> None:
    state = websocket.app.state
    try:
        principal = await authenticate_websocket(websocket, Scope.EXEC, LimitCategory.CLUSTER_WRITE)
        target = await target_for(websocket, principal, state.cluster_targets, state.access_guard)
        slot = _slots(websocket).hold(principal)
        slot.__enter__()
    except ApiError as error:
        await reject_websocket(websocket, error)
        return
    await websocket.accept()
    started = time.monotonic()
    outcome, reason, exit_code, where = AuditOutcome.SUCCESS, None, None, {}
    try:
        init = await asyncio.wait_for(_receive_json(websocket), INIT_TIMEOUT_SECONDS)
        if init is None:
            return
        session, namespace, pod_name, container = await _open_shell(target, init)
        where = {"namespace": namespace, "pod": pod_name, "container": container}
        output = asyncio.create_task(_pump_output(websocket, session))
        feeder = asyncio.create_task(_pump_input(websocket, session))
        try:
            await asyncio.wait({output, feeder}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            feeder.cancel()
            if output.done():
                exit_ = await session.wait()
                exit_code = exit_.exit_code
                if exit_code is None and exit_.error:
                    raise exec_error(exit_, namespace, pod_name)
                await _send(websocket, {"type": "exit", "exit_code": exit_code})
            else:
                output.cancel()
                reason = "closed by the client"
            with contextlib.suppress(BaseException):
                await asyncio.gather(output, feeder, return_exceptions=True)
            await session.close()
    except TimeoutError:
        outcome, reason = AuditOutcome.TIMEOUT, "no init message"
        await _close_with_error(websocket, BadRequest(f"no init message within {INIT_TIMEOUT_SECONDS:g} s"))
    except ApiError as error:
        outcome, reason = AuditOutcome.FAILURE, error.message
        await _close_with_error(websocket, error)
    except WebSocketDisconnect:
        reason = "client disconnected"
    finally:
        slot.__exit__(None, None, None)
        if where or outcome is not AuditOutcome.SUCCESS:
            async with state.database.session() as db:
                record(
                    db,
                    action=AuditAction.POD_SHELL,
                    outcome=outcome,
                    actor=principal.actor(),
                    occurred_at=utc_now(),
                    cluster_id=target.id,
                    reason=reason,
                    duration_ms=int((time.monotonic() - started) * 1000),
                    details={**where, "exit_code": exit_code},
                )
        if websocket.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()


async def _close_with_error(websocket: WebSocket, error: ApiError) -> None:
    if websocket.application_state == WebSocketState.DISCONNECTED:
        return
    with contextlib.suppress(Exception):
        await _send(
            websocket,
            {"type": "error", "error": error.error, "message": error.message, "code": error.status_code},
        )
        await websocket.close(code=1011 if error.status_code >= 500 else 1008, reason=error.error[:120])
