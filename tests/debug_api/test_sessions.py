"""Debug sessions: create, read, end, list; sliding TTL, idle and expiry on a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.debug_api.conftest import FakeClock, Harness, MakeHarness


@pytest.fixture
async def clocked(make_harness: MakeHarness) -> AsyncIterator[Harness]:
    async with make_harness(fake_clock=True) as harness:
        yield harness


def clock_of(harness: Harness) -> FakeClock:
    assert harness.clock is not None
    return harness.clock


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


async def create(harness: Harness, key: str | None = None, **body: Any) -> dict[str, Any]:
    response = await harness.http.post("/debug/session", json=body, headers=harness.auth(key))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def get(harness: Harness, session_id: str, key: str | None = None) -> dict[str, Any]:
    response = await harness.http.get(f"/debug/session/{session_id}", headers=harness.auth(key))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_create_with_defaults(clocked: Harness) -> None:
    await clocked.add_cluster("prod-1")
    session = await create(clocked, cluster_id="prod-1")
    assert session["session_id"].startswith("sess_")
    assert session["status"] == "active"
    assert session["ttl_seconds"] == 300
    assert parse(session["expires_at"]) - parse(session["created_at"]) == timedelta(seconds=300)
    assert session["command_count"] == session["commands_executed"] == 0
    assert session["last_activity"] == session["created_at"]


async def test_identity_comes_from_the_body_the_a2a_metadata_or_the_headers(clocked: Harness) -> None:
    await clocked.add_cluster("prod-1")
    from_body = await create(
        clocked,
        cluster_id="prod-1",
        user_id="user-123",
        correlation_id="trace-abc",
        service_identity="orchestrator",
        ttl_seconds=600,
    )
    from_metadata = await create(
        clocked,
        cluster_id="prod-1",
        metadata={"user": "debugging-agent", "correlation_id": "trace-123", "x": 1},
    )
    response = await clocked.http.post(
        "/debug/session",
        json={"cluster_id": "prod-1"},
        headers={**clocked.auth(), "X-Correlation-ID": "trace-hdr", "X-Service-Identity": "planner"},
    )
    from_headers = response.json()
    assert (from_body["user_id"], from_body["correlation_id"], from_body["service_identity"]) == (
        "user-123",
        "trace-abc",
        "orchestrator",
    )
    assert from_body["ttl_seconds"] == 600
    assert (from_metadata["user_id"], from_metadata["correlation_id"]) == ("debugging-agent", "trace-123")
    assert from_metadata["metadata"] == {"user": "debugging-agent", "correlation_id": "trace-123", "x": 1}
    assert (from_headers["correlation_id"], from_headers["service_identity"]) == ("trace-hdr", "planner")
    audit = await clocked.audit(action="session.create", correlation_id="trace-hdr")
    assert audit["events"][0]["service_identity"] == "planner"


@pytest.mark.parametrize("ttl", [59, 3601])
async def test_ttl_out_of_range_is_422(clocked: Harness, ttl: int) -> None:
    await clocked.add_cluster("prod-1")
    response = await clocked.http.post(
        "/debug/session", json={"cluster_id": "prod-1", "ttl_seconds": ttl}, headers=clocked.auth()
    )
    assert response.status_code == 422
    assert response.json()["details"]["errors"][0]["field"] == "ttl_seconds"


async def test_unknown_cluster_and_invalid_id(clocked: Harness) -> None:
    unknown = await clocked.http.post(
        "/debug/session", json={"cluster_id": "nowhere"}, headers=clocked.auth()
    )
    invalid = await clocked.http.post("/debug/session", json={"cluster_id": "Bad_Id"}, headers=clocked.auth())
    assert unknown.status_code == 404
    assert unknown.json()["details"]["code"] == "CLUSTER_NOT_FOUND"
    assert invalid.status_code == 422


async def test_idle_then_expired(clocked: Harness) -> None:
    await clocked.add_cluster("prod-1")
    session = await create(clocked, cluster_id="prod-1", ttl_seconds=120)
    clock = clock_of(clocked)
    clock.advance(59)
    assert (await get(clocked, session["session_id"]))["status"] == "active"
    clock.advance(2)
    assert (await get(clocked, session["session_id"]))["status"] == "idle"
    clock.advance(59)
    assert (await get(clocked, session["session_id"]))["status"] == "expired"


async def test_commands_slide_the_expiry_and_are_counted(clocked: Harness) -> None:
    clock = clock_of(clocked)
    async with clocked.connected_executor("prod-1") as executor:
        session = await create(clocked, cluster_id="prod-1", ttl_seconds=300)
        clock.advance(200)
        await executor.heartbeat()  # still connected on the moved clock
        response = await clocked.execute(
            cluster_id="prod-1", session_id=session["session_id"], command_type="get", args=["pods"]
        )
        assert response.status_code == 200, response.text
        assert response.json()["session_id"] == session["session_id"]
    found = await get(clocked, session["session_id"])
    assert found["command_count"] == found["commands_executed"] == 1
    assert parse(found["last_activity"]) == clock.now
    assert parse(found["expires_at"]) == clock.now + timedelta(seconds=300)
    # Without the command the session would have expired at 300 s; now it lives until 500 s.
    clock.advance(150)
    assert (await get(clocked, session["session_id"]))["status"] == "idle"


async def test_an_expired_session_cannot_take_commands(clocked: Harness) -> None:
    clock = clock_of(clocked)
    async with clocked.connected_executor("prod-1") as executor:
        session = await create(clocked, cluster_id="prod-1", ttl_seconds=60)
        clock.advance(60)
        await executor.heartbeat()  # still connected on the moved clock
        response = await clocked.execute(
            cluster_id="prod-1", session_id=session["session_id"], command_type="get", args=["pods"]
        )
    assert response.status_code == 410
    assert response.json()["error"] == "gone"
    assert response.json()["details"]["code"] == "SESSION_EXPIRED"
    assert (await get(clocked, session["session_id"]))["command_count"] == 0


async def test_end_a_session(clocked: Harness) -> None:
    async with clocked.connected_executor("prod-1"):
        session = await create(clocked, cluster_id="prod-1")
        ended = await clocked.http.delete(f"/debug/session/{session['session_id']}", headers=clocked.auth())
        again = await clocked.http.delete(f"/debug/session/{session['session_id']}", headers=clocked.auth())
        refused = await clocked.execute(
            cluster_id="prod-1", session_id=session["session_id"], command_type="get", args=["pods"]
        )
    assert ended.status_code == 200
    body = ended.json()
    assert body["message"] == "Session ended successfully"
    assert body["session_id"] == session["session_id"]
    assert body["status"] == "closed"
    assert body["closed_at"] == body["ended_at"]
    assert again.json() == body
    assert refused.status_code == 410
    assert refused.json()["details"]["code"] == "SESSION_ENDED"
    assert (await get(clocked, session["session_id"]))["status"] == "ended"
    audit = await clocked.audit(action="session")
    assert sorted(event["action"] for event in audit["events"]) == ["session.create", "session.end"]


async def test_a_session_belongs_to_its_key(clocked: Harness) -> None:
    await clocked.add_cluster("prod-1")
    owner = await clocked.create_key("owner")
    other = await clocked.create_key("other")
    session = await create(clocked, owner, cluster_id="prod-1")
    url = f"/debug/session/{session['session_id']}"
    assert (await clocked.http.get(url, headers=clocked.auth(other))).status_code == 404
    assert (await clocked.http.delete(url, headers=clocked.auth(other))).status_code == 404
    assert (await clocked.http.get(url, headers=clocked.auth())).status_code == 200
    missing = await clocked.http.get("/debug/session/sess_missing", headers=clocked.auth())
    assert missing.status_code == 404
    assert missing.json()["details"]["code"] == "SESSION_NOT_FOUND"


async def test_a_session_of_another_cluster_is_refused(clocked: Harness) -> None:
    async with clocked.connected_executor("prod-1"):
        await clocked.add_cluster("prod-2")
        session = await create(clocked, cluster_id="prod-2")
        response = await clocked.execute(
            cluster_id="prod-1", session_id=session["session_id"], command_type="get", args=["pods"]
        )
    assert response.status_code == 400
    assert response.json()["details"]["code"] == "SESSION_CLUSTER_MISMATCH"


async def test_list_sessions_with_filters(clocked: Harness) -> None:
    await clocked.add_cluster("prod-1")
    await clocked.add_cluster("prod-2")
    clock = clock_of(clocked)
    old = await create(clocked, cluster_id="prod-1", ttl_seconds=60)
    clock.advance(61)
    live = await create(clocked, cluster_id="prod-1")
    clock.advance(1)
    other = await create(clocked, cluster_id="prod-2")
    clock.advance(1)
    ended = await create(clocked, cluster_id="prod-2")
    await clocked.http.delete(f"/debug/session/{ended['session_id']}", headers=clocked.auth())

    async def ids(**params: Any) -> tuple[list[str], int]:
        response = await clocked.http.get("/debug/sessions", params=params, headers=clocked.auth())
        assert response.status_code == 200, response.text
        body = response.json()
        return [item["session_id"] for item in body["sessions"]], body["total"]

    newest_first = [ended["session_id"], other["session_id"], live["session_id"], old["session_id"]]
    assert await ids() == (newest_first, 4)
    assert await ids(cluster_id="prod-1") == ([live["session_id"], old["session_id"]], 2)
    assert (await ids(status="expired"))[0] == [old["session_id"]]
    assert (await ids(status="ended"))[0] == [ended["session_id"]]
    assert (await ids(status="active"))[0] == [other["session_id"], live["session_id"]]
    limited, total = await ids(limit=1)
    assert len(limited) == 1
    assert total == 4
    clock.advance(151)
    assert (await ids(status="idle"))[0] == [other["session_id"], live["session_id"]]

    reader = await clocked.create_key("reader")
    denied = await clocked.http.get("/debug/sessions", headers=clocked.auth(reader))
    assert denied.status_code == 403


async def test_health_reports_live_sessions(clocked: Harness) -> None:
    await clocked.add_cluster("prod-1")
    await create(clocked, cluster_id="prod-1")
    await create(clocked, cluster_id="prod-1", ttl_seconds=60)
    clock_of(clocked).advance(61)
    health = await clocked.http.get("/health")
    assert health.json()["active_sessions"] == 1
