"""Every failure, whoever raises it, reaches the client as the one error body."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from pilothouse.errors import (
    AgentDisconnected,
    ApiError,
    ErrorBody,
    InsufficientScope,
    NotFound,
    RateLimited,
    Unauthorized,
    error_body,
)
from pilothouse.settings import Settings

from .conftest import build_test_app

ERROR_KEYS = {"error", "message", "details", "code", "request_id", "trace_id", "timestamp"}


def assert_error_shape(response: httpx.Response, status: int, error: str, upper: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body.keys() >= ERROR_KEYS
    ErrorBody.model_validate(body)  # what OpenAPI promises
    assert body["error"] == error
    assert body["code"] == status
    assert body["details"]["code"] == upper
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["trace_id"] == response.headers["x-correlation-id"]
    assert body["timestamp"].endswith("Z")
    stamp = datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    return body


async def test_api_error_not_found_names_the_resource(client: httpx.AsyncClient) -> None:
    response = await client.get("/_test/sessions/sess-42")
    body = assert_error_shape(response, 404, "not_found", "SESSION_NOT_FOUND")
    assert body["message"] == "Session not found: sess-42"
    assert body["details"]["resource"] == "session"
    assert body["details"]["id"] == "sess-42"


async def test_rate_limited_carries_retry_headers_and_fields(client: httpx.AsyncClient) -> None:
    response = await client.get("/_test/limited")
    body = assert_error_shape(response, 429, "rate_limited", "RATE_LIMITED")
    # 12.2 s rounds up: a client retrying after 12 s would be refused again.
    assert response.headers["retry-after"] == "13"
    assert response.headers["x-ratelimit-limit"] == "100"
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.headers["x-ratelimit-reset-after"] == "13"
    assert int(response.headers["x-ratelimit-reset"]) >= int(datetime.now(UTC).timestamp()) + 12
    assert body["retry_after"] == 13
    assert body["details"]["limit"] == 100
    assert body["details"]["window"] == "1m"
    assert body["details"]["reset_at"].endswith("Z")


async def test_validation_error_lists_fields_without_echoing_input(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/_test/echo",
        params={"count": "many"},
        json={"cluster_id": "Bad_Cluster-SECRETVALUE", "args": []},
    )
    body = assert_error_shape(response, 422, "validation_failed", "VALIDATION_ERROR")
    errors = {(item["location"], item["field"]): item for item in body["details"]["errors"]}
    assert set(errors) == {("body", "cluster_id"), ("body", "args"), ("query", "count")}
    assert all(item["message"] and item["type"] for item in errors.values())
    # The offending values may be credentials: never reflected back.
    assert "SECRETVALUE" not in response.text
    assert "many" not in response.text


async def test_malformed_json_is_a_validation_error(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/_test/echo", content=b'{"cluster_id": ', headers={"content-type": "application/json"}
    )
    body = assert_error_shape(response, 422, "validation_failed", "VALIDATION_ERROR")
    assert body["details"]["errors"][0]["type"] == "json_invalid"


async def test_unknown_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/route")
    body = assert_error_shape(response, 404, "not_found", "NOT_FOUND")
    assert body["message"] == "Not Found: GET /no/such/route"


async def test_method_not_allowed_keeps_allow_header(client: httpx.AsyncClient) -> None:
    response = await client.delete("/health")
    assert_error_shape(response, 405, "method_not_allowed", "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET"


async def test_unhandled_exception_is_500_without_internals(
    client: httpx.AsyncClient, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    response = await client.get("/_test/boom", headers={"X-Request-ID": "req-boom-1"})
    body = assert_error_shape(response, 500, "internal_error", "INTERNAL_ERROR")
    assert body["request_id"] == "req-boom-1"
    assert body["message"] == "An unexpected error occurred"
    for leak in ("hunter2", "RuntimeError", "Traceback", "conftest"):
        assert leak not in response.text

    # ...but the operator gets the whole story, tied to the same request id.
    logged = [line for line in log_lines() if line["event"] == "unhandled_exception"]
    assert len(logged) == 1
    assert logged[0]["request_id"] == "req-boom-1"
    assert logged[0]["level"] == "error"
    exception = logged[0]["exception"][0]
    assert exception["exc_type"] == "RuntimeError"
    assert "hunter2" in exception["exc_value"]
    assert exception["frames"], "traceback frames must be logged"
    access = [line for line in log_lines() if line["event"] == "http_request"]
    assert access[-1]["status"] == 500


# (path, a body within the limit or None, the fields before and after the long value). The lean
# route reads its body itself (pilothouse.routing): the limit must hold there too.
OVERSIZED_BODIES = [
    pytest.param(
        "/_test/echo",
        {"cluster_id": "c1", "args": ["get"]},
        (b'{"cluster_id": "c1", "args": ["', b'"]}'),
        id="apiroute",
    ),
    pytest.param(
        "/agent/results",
        None,
        (b'{"command_id": "cmd_1", "result": {"success": true, "output": "', b'"}}'),
        id="lean-route",
    ),
]


@pytest.mark.parametrize(("path", "within_limit", "around"), OVERSIZED_BODIES)
async def test_oversized_body_is_413(
    sqlite_url: str, path: str, within_limit: dict[str, Any] | None, around: tuple[bytes, bytes]
) -> None:
    app = build_test_app(Settings(database_url=sqlite_url, max_request_body_bytes=64))
    oversized = around[0] + b"x" * 200 + around[1]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            if within_limit is not None:
                ok = await client.post(path, json=within_limit)
                assert ok.status_code == 200
            declared = await client.post(
                path, content=oversized, headers={"content-type": "application/json"}
            )

            async def chunks() -> AsyncIterator[bytes]:
                # No Content-Length: the limit must be enforced while reading.
                yield around[0]
                yield b"x" * 200
                yield around[1]

            streamed = await client.post(path, content=chunks(), headers={"content-type": "application/json"})
    body = assert_error_shape(declared, 413, "payload_too_large", "PAYLOAD_TOO_LARGE")
    assert body["details"]["limit_bytes"] == 64
    assert "content-length" not in streamed.request.headers
    assert_error_shape(streamed, 413, "payload_too_large", "PAYLOAD_TOO_LARGE")


def test_error_classes_carry_codes_and_headers() -> None:
    unauthorized = Unauthorized()
    assert (unauthorized.status_code, unauthorized.error) == (401, "unauthorized")
    assert unauthorized.code == "UNAUTHORIZED"
    assert unauthorized.headers["WWW-Authenticate"] == "Bearer"

    scope = InsufficientScope("exec")
    assert (scope.status_code, scope.error, scope.code) == (403, "insufficient_scope", "FORBIDDEN")
    assert scope.details["required_scope"] == "exec"

    agent = AgentDisconnected("prod-1", retry_after=5)
    assert (agent.status_code, agent.error, agent.code) == (503, "service_unavailable", "AGENT_DISCONNECTED")
    assert agent.details == {"retry_after": 5, "cluster_id": "prod-1", "last_seen": None}
    assert agent.headers["Retry-After"] == "5"

    cluster = NotFound.of("cluster", "c-9")
    assert cluster.code == "CLUSTER_NOT_FOUND"

    custom = ApiError("Action expired", status_code=410, error="action_expired", code="ACTION_EXPIRED")
    body = error_body(custom)
    assert (body["code"], body["error"], body["details"]["code"]) == (410, "action_expired", "ACTION_EXPIRED")


def test_error_body_outside_a_request_still_has_ids() -> None:
    body = error_body(RateLimited(0.2))
    assert re.fullmatch(r"req-[0-9a-f]{32}", body["request_id"])
    assert body["trace_id"] == body["request_id"]
    # Never "retry after 0 seconds".
    assert body["retry_after"] == 1


def test_error_compat_doc_exists() -> None:
    compat = Path(__file__).parents[2] / "docs" / "compat.md"
    assert "## Error body" in compat.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("path", "status"),
    [("/_test/sessions/x", 404), ("/_test/limited", 429), ("/_test/boom", 500), ("/nowhere", 404)],
)
async def test_every_error_has_the_kubently_upper_code(
    client: httpx.AsyncClient, path: str, status: int
) -> None:
    response = await client.get(path)
    assert response.status_code == status
    assert re.fullmatch(r"[A-Z][A-Z_]+", response.json()["details"]["code"])


async def test_openapi_documents_the_error_body_not_fastapis(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in str(schema)
    responses = schema["paths"]["/_test/echo"]["post"]["responses"]
    assert responses["default"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert set(schema["components"]["schemas"]["ErrorBody"]["required"]) == ERROR_KEYS
