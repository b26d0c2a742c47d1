"""GET /health tells the truth about dependencies; GET /metrics has bounded labels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

import pilothouse
from pilothouse.bus.inproc import InProcessBus
from pilothouse.bus.redis import RedisBus
from pilothouse.observability.health import HealthChecker
from pilothouse.observability.metrics import CommandMetrics, Metrics
from pilothouse.settings import Settings
from pilothouse.store.database import Database

from .conftest import REDIS_URL, build_test_app


async def test_health_reports_connected_dependencies(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["version"] == pilothouse.__version__
    assert isinstance(body["uptime_seconds"], int)
    assert body["uptime_seconds"] >= 0
    assert body["timestamp"].endswith("Z")
    assert body["database"] == "connected"
    # No Redis configured: say so rather than claim "connected".
    assert body["redis"] == "not_configured"
    assert body["dependencies"] == {"database": "healthy", "redis_cache": "not_configured", "bus": "healthy"}
    assert "error" not in body


async def test_health_is_503_when_the_database_is_gone(app: FastAPI, client: httpx.AsyncClient) -> None:
    database: Database = app.state.database
    await database.dispose()
    response = await client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["database"] == "disconnected"
    assert body["dependencies"]["database"] == "unhealthy"
    assert body["error"] == "Critical dependencies unavailable: database"
    assert body["retry_after_seconds"] == 30


async def test_health_with_redis(sqlite_url: str, redis_prefix: str) -> None:
    settings = Settings(database_url=sqlite_url, redis_url=REDIS_URL, redis_key_prefix=redis_prefix)
    app = build_test_app(settings)
    async with app.router.lifespan_context(app):
        assert isinstance(app.state.bus, RedisBus)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            body = (await client.get("/health")).json()
    assert body["redis"] == "connected"
    assert body["dependencies"]["redis_cache"] == "healthy"


async def test_health_checker_reports_unreachable_redis(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    await database.connect()
    # Nothing listens on port 1: connection refused, quickly.
    bus = RedisBus.from_url("redis://127.0.0.1:1/0")
    try:
        report = await HealthChecker(database, bus, redis_configured=True).report()
    finally:
        await bus.close()
        await database.dispose()
    assert not report.healthy
    assert report.body["redis"] == "disconnected"
    assert report.body["dependencies"]["redis_cache"] == "unhealthy"
    assert report.body["database"] == "connected"


async def test_health_contributors_add_fields_and_cannot_break_it(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    await database.connect()
    checker = HealthChecker(database, InProcessBus(), redis_configured=False)

    async def sessions() -> Mapping[str, Any]:
        return {"active_sessions": 5}

    async def broken() -> Mapping[str, Any]:
        raise RuntimeError("contributor bug")

    checker.add_contributor(sessions)
    checker.add_contributor(broken)
    try:
        report = await checker.report()
    finally:
        await database.dispose()
    assert report.healthy
    assert report.body["active_sessions"] == 5


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


async def test_metrics_use_route_templates_and_status_classes(client: httpx.AsyncClient) -> None:
    for session_id in ("alpha", "beta", "gamma"):
        await client.get(f"/_test/sessions/{session_id}")
    await client.get("/random/path/1")
    await client.get("/random/path/2")

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for raw in ("alpha", "beta", "gamma", "/random/path"):
        assert raw not in text, f"raw path fragment {raw!r} leaked into metric labels"

    counts = {
        (labels["method"], labels["route"], labels["status_class"]): value
        for labels, value in _samples(text, "pilothouse_http_requests_total")
    }
    assert counts[("GET", "/_test/sessions/{session_id}", "4xx")] == 3
    assert counts[("GET", "<unmatched>", "4xx")] == 2
    durations = {
        labels["route"]: value
        for labels, value in _samples(text, "pilothouse_http_request_duration_seconds_count")
        if labels["method"] == "GET"
    }
    assert durations["/_test/sessions/{session_id}"] == 3
    # Process metrics come along for free.
    assert _samples(text, "process_cpu_seconds_total")


async def test_requests_in_progress_are_counted_while_they_run(client: httpx.AsyncClient) -> None:
    def in_progress(text: str) -> dict[str, float]:
        return {
            labels["method"]: value
            for labels, value in _samples(text, "pilothouse_http_requests_in_progress")
        }

    # The scrape itself is in progress while the gauge is read.
    assert in_progress((await client.get("/metrics")).text) == {"GET": 1}
    await client.post("/health")
    assert in_progress((await client.get("/metrics")).text) == {"GET": 1, "POST": 0}


def test_command_metrics_count_by_kind_and_status() -> None:
    metrics = Metrics(process_collectors=False)
    commands = CommandMetrics(metrics.registry)
    for _ in range(3):
        commands.count_submitted("kubectl")
    commands.count_finished("kubectl", "success", 0.2)
    commands.count_finished("kubectl", "timeout", 30.0)
    commands.count_finished("kubectl", "success", 0.4)
    text = metrics.render()[0].decode()
    assert _samples(text, "pilothouse_commands_submitted_total") == [({"kind": "kubectl"}, 3.0)]
    finished = {
        labels["status"]: value for labels, value in _samples(text, "pilothouse_commands_finished_total")
    }
    assert finished == {"success": 2.0, "timeout": 1.0}
    ((labels, total),) = _samples(text, "pilothouse_command_duration_seconds_sum")
    assert labels == {"kind": "kubectl"}
    assert total == pytest.approx(30.6)


async def test_unknown_methods_collapse_into_one_label(client: httpx.AsyncClient) -> None:
    await client.request("BREW", "/health")
    text = (await client.get("/metrics")).text
    methods = {labels["method"] for labels, _ in _samples(text, "pilothouse_http_requests_total")}
    assert "BREW" not in methods
    assert "OTHER" in methods


async def test_openapi_and_swagger_ui(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["info"]["version"] == pilothouse.__version__
    assert "/health" in schema["paths"]
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text.lower()
    text = (await client.get("/metrics")).text
    routes = {labels["route"] for labels, _ in _samples(text, "pilothouse_http_requests_total")}
    # Framework routes are labelled by their path too, not as unmatched.
    assert {"/openapi.json", "/docs"} <= routes
