"""Fixtures for the server foundation: settings, apps, a live uvicorn, PostgreSQL, Redis, buses.

PostgreSQL and Redis come from PILOTHOUSE_TEST_POSTGRES_URL / PILOTHOUSE_TEST_REDIS_URL
(defaults: the local services). Each test gets its own PostgreSQL database and Redis key
prefix, so tests can run in parallel (pytest -n). If a service is down the test is
skipped locally but fails under CI, where a skip would hide a broken setup.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
import redis.asyncio as aioredis
import structlog
import uvicorn
from fastapi import APIRouter, FastAPI, WebSocket
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.engine import make_url

from pilothouse.app import create_app
from pilothouse.bus.base import Bus
from pilothouse.bus.inproc import InProcessBus
from pilothouse.bus.redis import RedisBus
from pilothouse.errors import NotFound, RateLimited
from pilothouse.observability.logging import bind_principal, configure_logging, current_context
from pilothouse.serving import server_options
from pilothouse.settings import Settings

POSTGRES_URL = os.environ.get(
    "PILOTHOUSE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("PILOTHOUSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def service_unavailable(what: str, exc: BaseException) -> NoReturn:
    message = f"{what} unavailable: {exc!r}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings must come from the test, not from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("PILOTHOUSE_") and not name.startswith("PILOTHOUSE_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Route all logging to a buffer as JSON; the fixture value parses what was logged.

    Autouse: structlog's unconfigured default renders tracebacks with rich, slowly.
    """
    buffer = io.StringIO()
    level = logging.getLogger().level
    configure_logging("DEBUG", "json", stream=buffer)

    def parsed() -> list[dict[str, Any]]:
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]

    root = logging.getLogger()
    try:
        yield parsed
    finally:
        root.setLevel(level)
        for handler in list(root.handlers):
            if handler.get_name() == "pilothouse":
                root.removeHandler(handler)
        structlog.reset_defaults()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'pilothouse.db'}"


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    return Settings(database_url=sqlite_url)


# --- Routes that exist only in tests, to drive the error handlers and middleware -------


class Echo(BaseModel):
    cluster_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
    args: list[str] = Field(min_length=1, max_length=20)


test_router = APIRouter(prefix="/_test")


@test_router.get("/sessions/{session_id}")
async def missing_session(session_id: str) -> None:
    raise NotFound.of("session", session_id)


@test_router.get("/limited")
async def limited() -> None:
    raise RateLimited(12.2, limit=100, window="1m")


@test_router.get("/boom")
async def boom() -> None:
    raise RuntimeError("database password is hunter2")


@test_router.post("/echo")
async def echo(body: Echo, count: int = 1) -> dict[str, Any]:
    return {"cluster_id": body.cluster_id, "count": count}


@test_router.get("/whoami")
async def whoami() -> dict[str, Any]:
    bind_principal("key-123")
    context = current_context()
    assert context is not None
    return {"request_id": context.request_id, "correlation_id": context.correlation_id}


@test_router.get("/stream")
async def stream(chunks: int = 3, delay: float = 0.3) -> StreamingResponse:
    async def produce() -> AsyncIterator[bytes]:
        for index in range(chunks):
            yield f"chunk-{index}\n".encode()
            await asyncio.sleep(delay)

    return StreamingResponse(produce(), media_type="text/plain")


@test_router.websocket("/ws")
async def websocket_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    text = await websocket.receive_text()
    context = current_context()
    await websocket.send_json({"echo": text, "request_id": context.request_id if context else None})
    await websocket.close()


def build_test_app(settings: Settings) -> FastAPI:
    app = create_app(settings)
    app.include_router(test_router)
    return app


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = build_test_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: a 500 must be judged by the response, as a client sees it.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[str]:
    """The test app served by a real uvicorn on 127.0.0.1 and a free port; yields its base URL."""
    config = uvicorn.Config(build_test_app(settings), host="127.0.0.1", port=0, **server_options())
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if serving.done():
                    serving.result()
                    raise RuntimeError("uvicorn exited before starting")
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)


# --- PostgreSQL -------------------------------------------------------------------------


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A SQLAlchemy URL for a fresh, empty PostgreSQL database, dropped afterwards."""
    base = make_url(POSTGRES_URL)
    admin_dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = await asyncpg.connect(admin_dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        service_unavailable("PostgreSQL", exc)
    name = f"pilothouse_test_{uuid.uuid4().hex[:16]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


# --- Redis ------------------------------------------------------------------------------


@asynccontextmanager
async def redis_namespace() -> AsyncIterator[str]:
    """A unique key prefix on the test Redis; every key under it is deleted afterwards."""
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:
        await client.aclose()
        service_unavailable("Redis", exc)
    prefix = f"pilothouse-test:{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    async with redis_namespace() as prefix:
        yield prefix


@pytest.fixture(params=["inproc", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    """Every Bus implementation, for the shared contract tests."""
    async with AsyncExitStack() as stack:
        instance: Bus
        if request.param == "inproc":
            instance = InProcessBus()
        else:
            prefix = await stack.enter_async_context(redis_namespace())
            instance = RedisBus.from_url(REDIS_URL, prefix=prefix)
        stack.push_async_callback(instance.close)
        yield instance
