"""GET /debug/audit: one trail for commands, denials, sessions and keys, with filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.debug_api.conftest import Harness


async def _activity(harness: Harness) -> str:
    """Commands, a policy denial, a scope denial and a session; returns the reader key."""
    reader = await harness.create_key("reader", ["read"])
    async with harness.connected_executor("prod-1"):
        response = await harness.http.post(
            "/debug/session",
            json={"cluster_id": "prod-1"},
            headers={**harness.auth(reader), "X-Correlation-ID": "trace-1", "X-Service-Identity": "planner"},
        )
        session_id = response.json()["session_id"]
        executed = await harness.http.post(
            "/debug/execute",
            json={"cluster_id": "prod-1", "session_id": session_id, "command_type": "get", "args": ["pods"]},
            headers={**harness.auth(reader), "X-Correlation-ID": "trace-1", "X-Service-Identity": "planner"},
        )
        assert executed.status_code == 200, executed.text
        denied = await harness.execute(reader, cluster_id="prod-1", command_type="delete", args=["pod", "x"])
        assert denied.status_code == 422
    assert (await harness.http.get("/clusters", headers=harness.auth(reader))).status_code == 403
    return reader


async def test_the_trail_answers_who_did_what(harness: Harness) -> None:
    reader = await _activity(harness)
    reader_id = reader.split("_")[1]

    async def actions(**params: Any) -> list[str]:
        return [event["action"] for event in (await harness.audit(**params))["events"]]

    assert await actions(action="command") == ["command.denied", "command.execute"]
    assert await actions(outcome="denied") == ["auth.denied", "command.denied"]
    assert await actions(principal="reader") == [
        "auth.denied",
        "command.denied",
        "command.execute",
        "session.create",
    ]
    assert await actions(principal=reader_id) == await actions(principal="reader")
    assert await actions(principal="planner") == ["command.execute", "session.create"]
    assert await actions(correlation_id="trace-1") == ["command.execute", "session.create"]
    assert await actions(cluster_id="prod-1", action="session.create") == ["session.create"]

    executed = (await harness.audit(action="command.execute"))["events"][0]
    assert executed["key_id"] == reader_id
    assert executed["service_identity"] == "planner"
    assert executed["session_id"] is not None
    assert executed["command_id"].startswith("cmd_")
    assert executed["args"] == ["get", "pods"]
    assert executed["outcome"] == "success"
    assert executed["duration_ms"] >= 0


async def test_time_window_and_paging(harness: Harness) -> None:
    await _activity(harness)
    everything = await harness.audit()
    total = everything["total"]
    assert total == len(everything["events"]) >= 6
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert (await harness.audit(since=future))["total"] == 0
    assert (await harness.audit(until=past))["total"] == 0
    assert (await harness.audit(since=past))["total"] == total
    page = await harness.audit(limit=2, offset=1)
    assert page["total"] == total
    assert [event["id"] for event in page["events"]] == [event["id"] for event in everything["events"][1:3]]


async def test_only_admins_read_the_trail(harness: Harness) -> None:
    reader = await harness.create_key("reader", ["read", "write", "delete", "exec"])
    response = await harness.http.get("/debug/audit", headers=harness.auth(reader))
    assert response.status_code == 403
    denial = (await harness.audit(action="auth.denied"))["events"][0]
    assert denial["reason"] == "missing scope admin"
