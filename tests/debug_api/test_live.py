"""The Debug API over real HTTP (uvicorn on 127.0.0.1): a client, an executor and the server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from pilothouse.app import create_app
from pilothouse.audit.service import Actor
from pilothouse.settings import Settings
from tests.debug_api.conftest import CANNED_PODS, FakeExecutor, new_admin_key


@pytest.fixture
async def live(backend: dict[str, Any]) -> AsyncIterator[tuple[str, str, str]]:
    """Base URL, admin key and the executor token of cluster "prod-1"."""
    admin_key = new_admin_key()
    app = create_app(Settings(**backend, bootstrap_admin_key=admin_key))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        async with app.state.database.session() as session:
            issued = await app.state.cluster_registry.add(
                session, "prod-1", actor=Actor(key_id=None, name="test")
            )
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}", admin_key, issued.token
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 15)


async def test_a_client_and_an_executor_over_http(live: tuple[str, str, str]) -> None:
    url, admin_key, token = live
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as client,
        httpx.AsyncClient(base_url=url, timeout=30) as executor_http,
    ):
        created = await client.post(
            "/admin/keys", json={"name": "agent"}, headers={"Authorization": f"Bearer {admin_key}"}
        )
        key = created.json()["key"]
        executor = FakeExecutor(executor_http, "prod-1", token)
        async with executor.running():
            session = await client.post(
                "/debug/session", json={"cluster_id": "prod-1"}, headers={"X-API-Key": key}
            )
            response = await client.post(
                "/debug/execute",
                json={
                    "cluster_id": "prod-1",
                    "session_id": session.json()["session_id"],
                    "command_type": "get",
                    "args": ["pods", "-A"],
                },
                headers={"Authorization": f"Bearer {key}", "X-Correlation-ID": "trace-live"},
            )
    assert response.status_code == 200, response.text
    assert response.json()["output"] == CANNED_PODS
    assert response.json()["correlation_id"] == "trace-live"
    assert response.headers["x-correlation-id"] == "trace-live"
    assert response.headers["x-ratelimit-limit"] == "50"
    assert response.headers["x-ratelimit-remaining"] == "49"


async def test_openapi_documents_the_debug_api(live: tuple[str, str, str]) -> None:
    url, _admin_key, _token = live
    async with httpx.AsyncClient(base_url=url) as client:
        schema = (await client.get("/openapi.json")).json()
    for path in (
        "/debug/session",
        "/debug/session/{session_id}",
        "/debug/sessions",
        "/debug/execute",
        "/debug/execute/async",
        "/debug/operations/{operation_id}",
        "/debug/result/{result_id}",
        "/debug/audit",
        "/agent/commands",
        "/agent/results",
        "/agent/status",
        "/agent/discovery",
        "/clusters",
        "/clusters/{cluster_id}/status",
        "/clusters/{cluster_id}/ping",
        "/admin/keys",
        "/admin/keys/{key_id}",
    ):
        assert path in schema["paths"], path
    schemes = schema["components"]["securitySchemes"]
    assert {scheme["type"] for scheme in schemes.values()} == {"apiKey", "http"}
