"""Request identity headers, the request context and the access log."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

GENERATED_ID = re.compile(r"req-[0-9a-f]{32}")


async def test_request_id_is_echoed_and_visible_to_handlers(client: httpx.AsyncClient) -> None:
    response = await client.get("/_test/whoami", headers={"X-Request-ID": "req-abc-123"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-abc-123"
    # Without an X-Correlation-ID the request id doubles as the correlation id.
    assert response.headers["x-correlation-id"] == "req-abc-123"
    assert response.json() == {"request_id": "req-abc-123", "correlation_id": "req-abc-123"}


async def test_correlation_id_is_taken_from_the_request(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/_test/whoami", headers={"X-Request-ID": "req-1", "X-Correlation-ID": "trace-xyz"}
    )
    assert response.headers["x-correlation-id"] == "trace-xyz"
    assert response.json() == {"request_id": "req-1", "correlation_id": "trace-xyz"}


async def test_request_id_is_generated_when_absent(client: httpx.AsyncClient) -> None:
    first = await client.get("/_test/whoami")
    second = await client.get("/_test/whoami")
    assert GENERATED_ID.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert first.json()["request_id"] == first.headers["x-request-id"]


@pytest.mark.parametrize("unsafe", ["has spaces", "x" * 129, "-leading-dash", "a\tb", "éé"])
async def test_unsafe_request_ids_are_replaced(client: httpx.AsyncClient, unsafe: str) -> None:
    response = await client.get("/_test/whoami", headers={b"X-Request-ID": unsafe.encode("utf-8")})
    assert GENERATED_ID.fullmatch(response.headers["x-request-id"])


async def test_api_version_header(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.headers["x-api-version"] == "1.0.0"


async def test_access_log_line_carries_context_bound_in_the_handler(
    client: httpx.AsyncClient, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    await client.get("/_test/whoami", headers={"X-Request-ID": "req-log-1", "X-Correlation-ID": "c-9"})
    await client.get("/_test/whoami?token=s3cr3t")

    lines = [line for line in log_lines() if line["event"] == "http_request"]
    first = next(line for line in lines if line.get("request_id") == "req-log-1")
    assert first["correlation_id"] == "c-9"
    # Bound by the handler after the middleware started: the shared context carries it out.
    assert first["principal"] == "key-123"
    assert first["route"] == "/_test/whoami"
    assert first["status"] == 200
    assert first["method"] == "GET"
    assert first["duration_ms"] >= 0
    assert first["timestamp"].endswith("Z")
    # Query strings can hold credentials; the server logs the path only. (The test's own
    # httpx client logs full URLs, which is not the server's doing.)
    server_lines = [line for line in log_lines() if line.get("logger") != "httpx"]
    assert any(line.get("logger") == "pilothouse.access" for line in server_lines)
    assert all("s3cr3t" not in str(line) for line in server_lines)


async def test_health_probes_log_at_debug(
    client: httpx.AsyncClient, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    await client.get("/health")
    await client.get("/_test/whoami")
    # Only this test's requests: a long poll another test left behind may end meanwhile.
    mine = {"/health", "/_test/whoami"}
    levels = {
        line["path"]: line["level"]
        for line in log_lines()
        if line["event"] == "http_request" and line["path"] in mine
    }
    assert levels == {"/health": "debug", "/_test/whoami": "info"}
