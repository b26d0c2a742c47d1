"""Fixtures for the Debug API: the app on SQLite (in-process bus, memory rate limits) and on
PostgreSQL with Redis (bus and rate limits), an admin key, registered clusters, and a fake
executor that speaks the executor protocol over plain HTTP.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pilothouse.app import create_app
from pilothouse.audit.service import Actor
from pilothouse.clusters.service import ClusterRegistry
from pilothouse.settings import Settings
from pilothouse.store.database import Database
from pilothouse.store.migrate import upgrade_to_head
from tests.foundation.conftest import (  # noqa: F401 - fixtures used by these tests
    REDIS_URL,
    _clean_environment,
    log_lines,
    postgres_url,
    redis_prefix,
)

CANNED_PODS = "NAME    READY   STATUS    RESTARTS   AGE\nweb-1   1/1     Running   0          5m\n"


class FakeClock:
    """A wall clock the test moves by hand (session expiry, executor staleness)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@asynccontextmanager
async def migrated_database(url: str) -> AsyncIterator[Database]:
    """A connected ``Database`` on ``url`` with every migration applied, disposed afterwards."""
    instance = Database(url)
    await instance.connect()
    await upgrade_to_head(url, engine=instance.engine)
    try:
        yield instance
    finally:
        await instance.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each kind, empty: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'pilothouse.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """``database_url`` migrated and connected."""
    async with migrated_database(database_url) as instance:
        yield instance


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Settings selecting the storage: SQLite + in-process bus, or PostgreSQL + Redis."""
    if request.param == "sqlite":
        return {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'data' / 'pilothouse.db'}"}
    return {
        "database_url": request.getfixturevalue("postgres_url"),
        "redis_url": REDIS_URL,
        "redis_key_prefix": request.getfixturevalue("redis_prefix"),
        "jwt_secret": "debug-api-tests",
    }


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> dict[str, Any]:
    return {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'data' / 'pilothouse.db'}"}


def executor_headers(cluster_id: str, token: str, executor_id: str = "exec-1") -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "X-Cluster-ID": cluster_id,
        "X-Executor-Id": executor_id,
        "X-Executor-Version": "0.1.0-test",
        "X-Executor-Inflight": "0",
    }


Answer = Callable[[dict[str, Any]], dict[str, Any] | None]


def canned_answer(command: dict[str, Any]) -> dict[str, Any] | None:
    """What a healthy executor with kubectl against a one-pod cluster answers."""
    if command["kind"] == "ping":
        return {"success": True, "output": "pong", "error": None, "exit_code": 0, "execution_time_ms": 0}
    return {"success": True, "output": CANNED_PODS, "error": None, "exit_code": 0, "execution_time_ms": 12}


@dataclass
class FakeExecutor:
    """An executor as a plain HTTP client: long-poll, answer, post the result, repeat."""

    http: httpx.AsyncClient
    cluster_id: str
    token: str
    executor_id: str = "exec-1"
    answer: Answer = canned_answer
    received: list[dict[str, Any]] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return executor_headers(self.cluster_id, self.token, self.executor_id)

    async def poll(self, wait: float = 0) -> list[dict[str, Any]]:
        response = await self.http.get("/agent/commands", params={"wait": wait}, headers=self.headers)
        if response.status_code == 204:
            return []
        assert response.status_code == 200, response.text
        commands: list[dict[str, Any]] = response.json()["commands"]
        self.received.extend(commands)
        return commands

    async def post_result(self, command_id: str, result: dict[str, Any]) -> httpx.Response:
        return await self.http.post(
            "/agent/results", json={"command_id": command_id, "result": result}, headers=self.headers
        )

    async def heartbeat(self) -> dict[str, Any]:
        response = await self.http.get("/agent/status", headers=self.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def serve(self, stop: asyncio.Event, wait: float = 0.2) -> None:
        while not stop.is_set():
            for command in await self.poll(wait):
                result = self.answer(command)
                if result is not None:
                    response = await self.post_result(command["id"], result)
                    assert response.status_code == 200, response.text

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FakeExecutor]:
        # One heartbeat first, so the cluster is connected before the test sends anything.
        await self.heartbeat()
        stop = asyncio.Event()
        # Stopped by a flag between short polls, not cancelled: a cancelled request would
        # run inside the app (ASGITransport runs it in this task) and test nothing useful.
        task = asyncio.create_task(self.serve(stop))
        try:
            yield self
        finally:
            stop.set()
            await task


@dataclass
class Harness:
    app: FastAPI
    http: httpx.AsyncClient
    admin_key: str
    clock: FakeClock | None

    def auth(self, key: str | None = None, *, style: str = "x-api-key") -> dict[str, str]:
        key = key or self.admin_key
        if style == "bearer":
            return {"Authorization": f"Bearer {key}"}
        return {"X-API-Key": key}

    async def create_key(
        self, name: str, scopes: list[str] | None = None, clusters: list[str] | None = None
    ) -> str:
        body: dict[str, Any] = {"name": name, "scopes": scopes or ["read"]}
        if clusters is not None:
            body["clusters"] = clusters
        response = await self.http.post("/admin/keys", json=body, headers=self.auth())
        assert response.status_code == 201, response.text
        key: str = response.json()["key"]
        return key

    async def add_cluster(self, cluster_id: str, security_mode: str = "readOnly") -> str:
        registry: ClusterRegistry = self.app.state.cluster_registry
        async with self.app.state.database.session() as session:
            issued = await registry.add(
                session, cluster_id, actor=Actor(key_id=None, name="test"), security_mode=security_mode
            )
        return issued.token

    def executor(
        self, cluster_id: str, token: str, executor_id: str = "exec-1", **kwargs: Any
    ) -> FakeExecutor:
        return FakeExecutor(self.http, cluster_id, token, executor_id, **kwargs)

    @asynccontextmanager
    async def connected_executor(
        self, cluster_id: str, security_mode: str = "readOnly", **kwargs: Any
    ) -> AsyncIterator[FakeExecutor]:
        """A registered cluster with an executor answering in the background."""
        token = await self.add_cluster(cluster_id, security_mode)
        async with self.executor(cluster_id, token, **kwargs).running() as executor:
            yield executor

    async def execute(self, key: str | None = None, **body: Any) -> httpx.Response:
        return await self.http.post("/debug/execute", json=body, headers=self.auth(key))

    async def audit(self, **params: Any) -> dict[str, Any]:
        response = await self.http.get("/debug/audit", params=params, headers=self.auth())
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def new_admin_key() -> str:
    return f"ph_bootstrap_{secrets.token_urlsafe(32)}"


MakeHarness = Callable[..., AbstractAsyncContextManager[Harness]]


@asynccontextmanager
async def running_app(settings: Settings, clock: FakeClock | None = None) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    if clock is not None:
        app.state.clock = clock
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
def make_harness(backend: dict[str, Any]) -> MakeHarness:
    """``async with make_harness(fake_clock=True, **setting_overrides) as harness: ...``"""

    @asynccontextmanager
    async def make(*, fake_clock: bool = False, **overrides: Any) -> AsyncIterator[Harness]:
        admin_key = new_admin_key()
        settings = Settings(**{**backend, "bootstrap_admin_key": admin_key, **overrides})
        clock = FakeClock() if fake_clock else None
        async with running_app(settings, clock) as app:
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver", timeout=30
            ) as http:
                yield Harness(app=app, http=http, admin_key=admin_key, clock=clock)

    return make


@pytest.fixture
async def harness(make_harness: MakeHarness) -> AsyncIterator[Harness]:
    async with make_harness() as running:
        yield running


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Wait until ``check`` holds (for effects of background executors)."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)
