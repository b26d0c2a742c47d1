"""Debug sessions end to end: create, use, idle, expire, end.

Expiry is reached by moving the server's clock forward (``LiveStack.clock``), never by sleeping.
That clock also decides whether the executor counts as connected, so after each jump the tests
wait for the executor's next request (it polls every two seconds here) before sending commands.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import CLUSTER_ID, ExecutorProcess, LiveStack, assert_audited, wait_until

TTL = 60


@pytest.fixture(scope="module")
def executor(stack: LiveStack) -> ExecutorProcess:
    return stack.start_executor(poll_wait=2)


@pytest.fixture(scope="module")
def agent_key(stack: LiveStack) -> tuple[str, str]:
    return stack.create_key("session-agent", ["read"])


def jump(stack: LiveStack, seconds: float) -> None:
    """Move the server's clock, then wait until the executor has been heard from since."""
    stack.clock.jump(seconds)
    wait_until(lambda: stack.status()["connected"], 30, "the executor's next heartbeat")


def run_in(client: httpx.Client, session_id: str, *args: str) -> httpx.Response:
    return client.post(
        "/debug/execute",
        json={"cluster_id": CLUSTER_ID, "session_id": session_id, "command_type": "get", "args": list(args)},
    )


def session_of(client: httpx.Client, session_id: str) -> dict[str, Any]:
    response = client.get(f"/debug/session/{session_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_session_counts_its_commands_and_ends(
    stack: LiveStack, executor: ExecutorProcess, agent_key: tuple[str, str]
) -> None:
    key, key_id = agent_key
    with stack.client(key) as client:
        created = client.post(
            "/debug/session",
            json={"cluster_id": CLUSTER_ID, "ttl_seconds": TTL, "metadata": {"user": "oncall"}},
        )
        assert created.status_code == 201, created.text
        session = created.json()
        assert (session["status"], session["command_count"], session["ttl_seconds"]) == ("active", 0, TTL)
        session_id = session["session_id"]

        results = []
        for count, args in enumerate((["pods", "-n", "payments"], ["services", "-A"]), start=1):
            response = run_in(client, session_id, *args)
            assert response.status_code == 200, response.text
            results.append(response.json())
            now = session_of(client, session_id)
            assert (now["command_count"], now["commands_executed"]) == (count, count)
            assert now["last_activity"] >= session["last_activity"]

        ended = client.delete(f"/debug/session/{session_id}")
        assert ended.status_code == 200, ended.text
        assert (ended.json()["status"], ended.json()["command_count"]) == ("closed", 2)
        assert session_of(client, session_id)["status"] == "ended"
        refused = run_in(client, session_id, "pods")
    assert results[0]["output"] == stack.kubectl("get", "pods", "-n", "payments")
    assert results[1]["output"] == stack.kubectl("get", "services", "-A")
    assert refused.status_code == 410, refused.text
    assert refused.json()["details"]["code"] == "SESSION_ENDED"
    for result in results:
        assert_audited(stack, result, key_id=key_id, outcome="success")
    lifecycle = [
        (event["action"], event["key_id"])
        for event in stack.audit(action="session")
        if event["session_id"] == session_id
    ]
    assert sorted(lifecycle) == [("session.create", key_id), ("session.end", key_id)]


def test_a_session_idles_slides_and_expires(
    stack: LiveStack, executor: ExecutorProcess, agent_key: tuple[str, str]
) -> None:
    key, key_id = agent_key
    with stack.client(key) as client:
        created = client.post("/debug/session", json={"cluster_id": CLUSTER_ID, "ttl_seconds": TTL})
        assert created.status_code == 201, created.text
        session_id = created.json()["session_id"]

        # Past half the TTL without a command: idle, still usable, and using it slides the expiry.
        jump(stack, TTL * 0.6)
        assert session_of(client, session_id)["status"] == "idle"
        used = run_in(client, session_id, "pods", "-n", "payments")
        assert used.status_code == 200, used.text
        assert session_of(client, session_id)["status"] == "active"

        # Another 0.6 TTL: past the first expiry, but not past the slid one.
        jump(stack, TTL * 0.6)
        assert session_of(client, session_id)["status"] == "idle"

        jump(stack, TTL * 0.5)
        expired = session_of(client, session_id)
        refused = run_in(client, session_id, "pods")
        # The cluster itself is still served: only the session is gone.
        without_session = client.post(
            "/debug/execute", json={"cluster_id": CLUSTER_ID, "command_type": "get", "args": ["ns"]}
        )
        live = client.get(
            "/debug/sessions", headers={"X-API-Key": stack.admin_key}, params={"status": "expired"}
        )
    assert expired["status"] == "expired"
    assert expired["command_count"] == 1
    assert refused.status_code == 410, refused.text
    assert refused.json()["details"]["code"] == "SESSION_EXPIRED"
    assert without_session.status_code == 200, without_session.text
    assert session_id in [item["session_id"] for item in live.json()["sessions"]]
    assert_audited(stack, used.json(), key_id=key_id, outcome="success")
    # The refused command never became a command: only the one that ran is in the trail.
    assert [
        event["command_id"]
        for event in stack.audit(action="command.execute")
        if event["session_id"] == session_id
    ] == [used.json()["command_id"]]
