"""An in-memory server side of docs/executor-protocol.md, for tests and benchmarks of executors.

Like ``kopf.testing``, this ships with the package because more than the test suite needs it: the
executor's tests, the round-trip benchmark (``bench/executor_roundtrip.py``), and anyone checking
an executor against the contract without a database. It implements the contract and nothing more:
one cluster, one token, leases with redelivery, first-result-wins, 401 with the common error body.
It is strict where the contract is (missing executor headers and malformed results are 400), so a
test against it fails when the executor strays from the document.

    double = ProtocolDouble()
    async with double.serve() as url:
        command_id = double.enqueue(["get", "pods"])
        result = await double.wait_result(command_id)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import socket
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pilothouse.executor import protocol

MAX_WAIT_SECONDS = 60


@dataclass
class QueuedCommand:
    id: str
    body: dict[str, Any]  # as delivered, without lease_seconds
    lease_seconds: float
    enqueued_at: float  # time.perf_counter()
    deliveries: list[str] = field(default_factory=list)  # executor id of each delivery
    leased_until: float | None = None  # loop time
    result: dict[str, Any] | None = None
    result_at: float | None = None  # time.perf_counter()
    result_from: str | None = None


@dataclass(frozen=True)
class Visit:
    """One authenticated request: what the executor's headers said, and when."""

    path: str
    executor_id: str
    version: str
    inflight: int
    at: float  # time.monotonic()


class ProtocolDouble:
    def __init__(
        self,
        *,
        cluster_id: str = "test-cluster",
        token: str = "executor-token",  # noqa: S107 - a test double's fixed credential
        lease_seconds: float = 25.0,
        discovery_supported: bool = True,
        max_batch: int | None = None,
    ) -> None:
        self.cluster_id = cluster_id
        self.token = token
        self.lease_seconds = lease_seconds
        self.discovery_supported = discovery_supported
        self.max_batch = max_batch  # commands per poll answer; None: all that are waiting
        # When set, every request gets this status (a 5xx simulates a failing server).
        self.fail_with: int | None = None
        self.commands: dict[str, QueuedCommand] = {}
        self.visits: list[Visit] = []  # authenticated requests
        self.attempts: list[tuple[str, float]] = []  # every request: (path, time.monotonic())
        self.result_posts: list[tuple[str, str]] = []  # (command id, executor id), duplicates included
        self.discovery: list[dict[str, Any]] | None = None
        self._waiting: list[str] = []  # command ids not leased, oldest first
        self._wakeup = asyncio.Event()
        self._closing = False
        self._result_arrived = asyncio.Event()
        self._ids = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/agent/commands", self._poll, methods=["GET"]),
                Route("/agent/results", self._result, methods=["POST"]),
                Route("/agent/status", self._status, methods=["GET"]),
                Route("/agent/discovery", self._discovery, methods=["POST"]),
            ]
        )

    # --- what a test does -----------------------------------------------------------------------

    def enqueue(
        self,
        args: Sequence[str] = (),
        *,
        kind: str | None = "kubectl",
        timeout: float = 10.0,
        lease_seconds: float | None = None,
        **fields: Any,
    ) -> str:
        """Queue a command; ``kind=None`` leaves the field out, as a Kubently server would."""
        command_id = f"cmd_{next(self._ids)}_{secrets.token_hex(4)}"
        body: dict[str, Any] = {"id": command_id, "args": list(args), "timeout": timeout, **fields}
        if kind is not None:
            body["kind"] = kind
        self.commands[command_id] = QueuedCommand(
            command_id, body, lease_seconds or self.lease_seconds, time.perf_counter()
        )
        self._waiting.append(command_id)
        self._wake()
        return command_id

    async def wait_result(self, command_id: str, seconds: float = 30.0) -> dict[str, Any]:
        """The first result posted for ``command_id``; TimeoutError after ``seconds``."""
        async with asyncio.timeout(seconds):
            while (result := self.commands[command_id].result) is None:
                self._result_arrived.clear()
                await self._result_arrived.wait()
        return result

    @property
    def queue_depth(self) -> int:
        return len(self._waiting)

    # --- the protocol ---------------------------------------------------------------------------

    async def _poll(self, request: Request) -> Response:
        denied = self._check(request)
        if denied is not None:
            return denied
        try:
            wait = int(request.query_params.get("wait", "30"))
        except ValueError:
            return _error(400, "bad_request", "wait must be an integer")
        if not 0 <= wait <= MAX_WAIT_SECONDS:
            return _error(400, "bad_request", f"wait must be 0..{MAX_WAIT_SECONDS}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        executor_id = request.headers[protocol.EXECUTOR_ID]
        # A poll whose executor went away (stopped, killed) must not take commands with it.
        disconnected = asyncio.ensure_future(_disconnection(request))
        try:
            while True:
                self._expire_leases(loop.time())
                if self._waiting and not disconnected.done():
                    return JSONResponse({"commands": self._lease(executor_id, loop.time())})
                remaining = deadline - loop.time()
                if remaining <= 0 or disconnected.done() or self._closing:
                    return Response(status_code=204)
                # Woken by an enqueue, or in time to hand out a command whose lease runs out.
                self._wakeup.clear()
                woken = asyncio.ensure_future(self._wakeup.wait())
                timeout = min(remaining, self._next_expiry(loop.time()))
                await asyncio.wait(
                    {woken, disconnected}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                woken.cancel()
        finally:
            disconnected.cancel()

    async def _result(self, request: Request) -> Response:
        denied = self._check(request)
        if denied is not None:
            return denied
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "bad_request", "the body is not JSON")
        problem = _result_problem(body)
        if problem is not None:
            return _error(400, "bad_request", problem)
        command_id = body["command_id"]
        command = self.commands.get(command_id)
        if command is None:
            return _error(404, "not_found", f"Command not found: {command_id}")
        executor_id = request.headers[protocol.EXECUTOR_ID]
        self.result_posts.append((command_id, executor_id))
        if command.result is None:  # the first result wins; repeats are acknowledged and ignored
            command.result = body["result"]
            command.result_at = time.perf_counter()
            command.result_from = executor_id
            command.leased_until = None
            self._result_arrived.set()
        return JSONResponse({"message": "Result stored successfully", "command_id": command_id})

    async def _status(self, request: Request) -> Response:
        denied = self._check(request)
        if denied is not None:
            return denied
        return JSONResponse(
            {"cluster_id": self.cluster_id, "is_active": True, "queue_depth": self.queue_depth}
        )

    async def _discovery(self, request: Request) -> Response:
        denied = self._check(request)
        if denied is not None:
            return denied
        if not self.discovery_supported:
            return _error(404, "not_found", "Not Found")
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("resources"), list):
            return _error(400, "bad_request", 'expected {"resources": [...]}')
        self.discovery = body["resources"]
        return JSONResponse({"message": "Discovery stored", "resources": len(self.discovery)})

    # --- leases ---------------------------------------------------------------------------------

    def _lease(self, executor_id: str, now: float) -> list[dict[str, Any]]:
        count = len(self._waiting) if self.max_batch is None else min(self.max_batch, len(self._waiting))
        leased, self._waiting = self._waiting[:count], self._waiting[count:]
        delivered = []
        for command_id in leased:
            command = self.commands[command_id]
            command.leased_until = now + command.lease_seconds
            command.deliveries.append(executor_id)
            delivered.append({**command.body, "lease_seconds": command.lease_seconds})
        return delivered

    def _expire_leases(self, now: float) -> None:
        for command in self.commands.values():
            if command.result is None and command.leased_until is not None and command.leased_until <= now:
                command.leased_until = None
                self._waiting.append(command.id)

    def _next_expiry(self, now: float) -> float:
        expiries = [
            command.leased_until - now
            for command in self.commands.values()
            if command.result is None and command.leased_until is not None
        ]
        return max(0.0, min(expiries, default=MAX_WAIT_SECONDS))

    def _wake(self) -> None:
        self._wakeup.set()

    @contextlib.asynccontextmanager
    async def serve(self, *, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve the double (again, after a stop: the test of a server that goes away and comes back)."""
        self._closing = False
        async with serve(self.app, host=host, port=port) as url:
            try:
                yield url
            finally:
                # Answer waiting polls now, or the server would wait for them to end before stopping.
                self._closing = True
                self._wake()

    # --- authentication and heartbeats ----------------------------------------------------------

    def _check(self, request: Request) -> Response | None:
        self.attempts.append((request.url.path, time.monotonic()))
        if self.fail_with is not None:
            return _error(self.fail_with, "injected_failure", "failure injected by the test")
        authorization = request.headers.get(protocol.AUTHORIZATION, "")
        if (
            authorization != f"Bearer {self.token}"
            or request.headers.get(protocol.CLUSTER_ID) != self.cluster_id
        ):
            return _error(401, "unauthorized", "Invalid executor token or cluster id")
        missing = [
            name
            for name in (protocol.EXECUTOR_ID, protocol.EXECUTOR_VERSION, protocol.EXECUTOR_INFLIGHT)
            if not request.headers.get(name)
        ]
        if missing:
            return _error(400, "bad_request", f"missing headers: {', '.join(missing)}")
        try:
            inflight = int(request.headers[protocol.EXECUTOR_INFLIGHT])
        except ValueError:
            return _error(400, "bad_request", f"{protocol.EXECUTOR_INFLIGHT} must be an integer")
        self.visits.append(
            Visit(
                request.url.path,
                request.headers[protocol.EXECUTOR_ID],
                request.headers[protocol.EXECUTOR_VERSION],
                inflight,
                time.monotonic(),
            )
        )
        return None


async def _disconnection(request: Request) -> None:
    """Returns when the client has closed the connection."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _result_problem(body: object) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("command_id"), str):
        return "expected {command_id, result}"
    result = body.get("result")
    if not isinstance(result, dict):
        return "result must be an object"
    checks = {
        "success": isinstance(result.get("success"), bool),
        "output": isinstance(result.get("output"), str),
        "error": result.get("error") is None or isinstance(result.get("error"), str),
        "exit_code": result.get("exit_code") is None or type(result.get("exit_code")) is int,
        "execution_time_ms": type(result.get("execution_time_ms")) is int,
    }
    if "timed_out" in result and not isinstance(result["timed_out"], bool):
        return "timed_out must be a boolean"
    wrong = [name for name, ok in checks.items() if not ok or name not in result]
    return f"result fields missing or of the wrong type: {', '.join(wrong)}" if wrong else None


def _error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, "code": status}, status_code=status)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serve(app: Starlette, *, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` with a real uvicorn (HTTP/1.1, keep-alive) until the block ends; yields its URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port or free_port(host), log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve(), name="protocol-double")
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn exited before it started")
            await asyncio.sleep(0.01)
        yield f"http://{host}:{server.config.port}"
    finally:
        server.should_exit = True
        await task
