"""Rate limits over real HTTP: low limits from settings, 429 with the documented body and headers."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import (
    CLUSTER_ID,
    IDLE_CLUSTER_ID,
    NO_PRACTICAL_LIMITS,
    ExecutorProcess,
    LiveStack,
    StackOptions,
    assert_audited,
)

COMMANDS_PER_MINUTE = 3
SESSIONS_PER_MINUTE = 2


@pytest.fixture(scope="module")
def stack_options() -> StackOptions:
    return StackOptions(
        settings={
            "rate_limits": {
                **NO_PRACTICAL_LIMITS,
                "commands_per_cluster_per_minute": COMMANDS_PER_MINUTE,
                "sessions_per_key_per_minute": SESSIONS_PER_MINUTE,
            }
        }
    )


def test_commands_per_cluster_are_limited(stack: LiveStack, executor: ExecutorProcess) -> None:
    key, key_id = stack.create_key("busy-agent", ["read"])
    body = {"cluster_id": CLUSTER_ID, "command_type": "get", "args": ["pods"], "namespace": "payments"}
    with stack.client(key) as client:
        allowed = [client.post("/debug/execute", json=body) for _ in range(COMMANDS_PER_MINUTE)]
        refused = client.post("/debug/execute", json=body)
        # The limit is per cluster: another cluster's commands are counted apart (this one has no
        # executor, so it answers 503 rather than 429).
        other = client.post("/debug/execute", json={**body, "cluster_id": IDLE_CLUSTER_ID})
    for count, response in enumerate(allowed, start=1):
        assert response.status_code == 200, response.text
        assert response.headers["X-RateLimit-Limit"] == str(COMMANDS_PER_MINUTE)
        assert response.headers["X-RateLimit-Remaining"] == str(COMMANDS_PER_MINUTE - count)
        assert_audited(stack, response.json(), key_id=key_id, outcome="success")

    assert refused.status_code == 429, refused.text
    error = refused.json()
    assert error["error"] == "rate_limited"
    assert error["details"]["code"] == "RATE_LIMITED"
    assert error["details"]["limit"] == COMMANDS_PER_MINUTE
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert error["retry_after"] == error["details"]["retry_after"] == retry_after
    assert refused.headers["X-RateLimit-Limit"] == str(COMMANDS_PER_MINUTE)
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert time.time() < int(refused.headers["X-RateLimit-Reset"]) <= time.time() + 61
    # Refused before it was stored: only the allowed commands ran.
    ran = [event for event in stack.audit(action="command.execute") if event["key_id"] == key_id]
    assert len(ran) == COMMANDS_PER_MINUTE

    assert other.status_code == 503, other.text


def test_sessions_per_key_are_limited(stack: LiveStack) -> None:
    key, _ = stack.create_key("session-hungry-agent", ["read"])
    other_key, _ = stack.create_key("another-agent", ["read"])
    with stack.client(key) as client:
        created = [
            client.post("/debug/session", json={"cluster_id": CLUSTER_ID}) for _ in range(SESSIONS_PER_MINUTE)
        ]
        refused = client.post("/debug/session", json={"cluster_id": CLUSTER_ID})
    with stack.client(other_key, style="bearer") as client:
        elsewhere = client.post("/debug/session", json={"cluster_id": CLUSTER_ID})
    assert [response.status_code for response in created] == [201] * SESSIONS_PER_MINUTE
    assert created[-1].headers["X-RateLimit-Remaining"] == "0"
    assert refused.status_code == 429, refused.text
    assert refused.json()["details"]["code"] == "RATE_LIMITED"
    assert refused.json()["details"]["limit"] == SESSIONS_PER_MINUTE
    assert int(refused.headers["Retry-After"]) >= 1
    # Per key: another key still gets its sessions.
    assert elsewhere.status_code == 201, elsewhere.text
