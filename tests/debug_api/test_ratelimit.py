"""Rate limits per key, per cluster and for sessions; headers on every authenticated response."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from pilothouse.settings import Settings
from tests.debug_api.conftest import Harness, MakeHarness, new_admin_key, running_app


def limits(**values: Any) -> dict[str, Any]:
    return {"rate_limits": values}


async def test_headers_on_every_authenticated_response(harness: Harness) -> None:
    first = await harness.http.get("/admin/keys", headers=harness.auth())
    second = await harness.http.get("/debug/session/sess_missing", headers=harness.auth())
    anonymous = await harness.http.get("/admin/keys")
    assert first.headers["X-RateLimit-Limit"] == "100"
    assert first.headers["X-RateLimit-Remaining"] == "99"
    assert int(first.headers["X-RateLimit-Reset"]) >= int(time.time())
    # Errors after authentication carry them too.
    assert second.status_code == 404
    assert second.headers["X-RateLimit-Remaining"] == "98"
    assert anonymous.status_code == 401
    assert "X-RateLimit-Limit" not in anonymous.headers


async def test_requests_per_key_are_limited(make_harness: MakeHarness) -> None:
    async with make_harness(**limits(api_requests_per_key_per_minute=3)) as harness:
        responses = [await harness.http.get("/admin/keys", headers=harness.auth()) for _ in range(4)]
        other_key = await harness.http.get("/admin/keys", headers=harness.auth(new_admin_key()))
    assert [response.status_code for response in responses] == [200, 200, 200, 429]
    limited = responses[-1]
    body = limited.json()
    assert body["error"] == "rate_limited"
    assert body["details"]["code"] == "RATE_LIMITED"
    assert body["details"]["limit"] == 3
    assert body["details"]["category"] == "api"
    assert body["details"]["reset_at"].endswith("Z")
    assert 1 <= body["retry_after"] <= 60
    assert limited.headers["Retry-After"] == str(body["retry_after"])
    assert limited.headers["X-RateLimit-Limit"] == "3"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert responses[1].headers["X-RateLimit-Remaining"] == "1"
    # A different (here: unknown) key is not counted against this one: it is simply 401.
    assert other_key.status_code == 401


async def test_commands_per_cluster_are_limited(make_harness: MakeHarness) -> None:
    async with (
        make_harness(**limits(commands_per_cluster_per_minute=2)) as harness,
        harness.connected_executor("prod-1"),
        harness.connected_executor("prod-2", executor_id="b"),
    ):
        command = {"command_type": "get", "args": ["pods"]}
        on_first = [await harness.execute(cluster_id="prod-1", **command) for _ in range(3)]
        on_second = await harness.execute(cluster_id="prod-2", **command)
    assert [response.status_code for response in on_first] == [200, 200, 429]
    assert on_first[-1].json()["details"]["category"] == "commands"
    # The response shows the most restrictive limit it counted against.
    assert on_first[0].headers["X-RateLimit-Limit"] == "2"
    assert on_first[0].headers["X-RateLimit-Remaining"] == "1"
    assert on_second.status_code == 200


async def test_sessions_per_key_are_limited(make_harness: MakeHarness) -> None:
    async with make_harness(**limits(sessions_per_key_per_minute=1)) as harness:
        await harness.add_cluster("prod-1")
        first = await harness.http.post(
            "/debug/session", json={"cluster_id": "prod-1"}, headers=harness.auth()
        )
        second = await harness.http.post(
            "/debug/session", json={"cluster_id": "prod-1"}, headers=harness.auth()
        )
    assert first.status_code == 201
    assert second.status_code == 429
    assert second.json()["details"]["category"] == "sessions"


async def test_limits_can_be_disabled(make_harness: MakeHarness) -> None:
    async with make_harness(**limits(enabled=False, api_requests_per_key_per_minute=1)) as harness:
        responses = [await harness.http.get("/admin/keys", headers=harness.auth()) for _ in range(3)]
    assert [response.status_code for response in responses] == [200, 200, 200]
    assert "X-RateLimit-Limit" not in responses[0].headers


async def test_replicas_share_counters_in_redis(backend: dict[str, Any]) -> None:
    if "redis_url" not in backend:
        pytest.skip("counters are per process without Redis")
    admin_key = new_admin_key()
    settings = Settings(**backend, bootstrap_admin_key=admin_key, **limits(api_requests_per_key_per_minute=2))
    async with running_app(settings) as first_app, running_app(settings) as second_app:
        statuses = []
        for app in (first_app, second_app, first_app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://replica") as http:
                response = await http.get("/admin/keys", headers={"X-API-Key": admin_key})
                statuses.append(response.status_code)
    assert statuses == [200, 200, 429]
