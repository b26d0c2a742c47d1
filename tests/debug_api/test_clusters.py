"""/clusters, /clusters/{id}/status and ping, token rotation, removal, executor discovery."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from pilothouse.audit.service import Actor
from pilothouse.clusters.service import ClusterRegistry
from pilothouse.errors import ApiError
from pilothouse.policy import SecurityMode, builtin_resources
from tests.debug_api.conftest import Harness, MakeHarness


def discovery_payload(*extra: dict[str, Any]) -> dict[str, Any]:
    """The built-in types as the executor reports them, plus ``extra`` (custom resources)."""
    resources = [
        {
            "plural": ref.plural,
            "singular": ref.singular,
            "kind": ref.kind,
            "short_names": list(ref.short_names),
            "group": ref.group,
            "namespaced": ref.namespaced,
            "verbs": ["get", "list"],
        }
        for ref in builtin_resources()
    ]
    return {"resources": [*resources, *extra]}


WIDGETS = {
    "name": "widgets",
    "singularName": "widget",
    "kind": "Widget",
    "shortNames": ["wd"],
    "group": "example.com",
    "namespaced": True,
}


async def test_list_and_status_follow_the_executor(make_harness: MakeHarness) -> None:
    async with make_harness(fake_clock=True) as harness:
        token = await harness.add_cluster("prod-1", "extendedReadOnly")
        listing = await harness.http.get("/clusters", headers=harness.auth())
        assert listing.status_code == 200
        (entry,) = listing.json()["clusters"]
        assert entry["cluster_id"] == "prod-1"
        assert entry["status"] == "disconnected"
        assert entry["last_seen"] is None
        assert (entry["transport"], entry["security_mode"]) == ("tunnel", "extendedReadOnly")

        executor = harness.executor("prod-1", token, executor_id="exec-a")
        await executor.heartbeat()
        status = (await harness.http.get("/clusters/prod-1/status", headers=harness.auth())).json()
        assert status["status"] == "connected"
        assert status["connected"] is True
        assert status["agent_version"] == "0.1.0-test"
        assert status["last_seen"] is not None
        assert status["queue_depth"] == 0
        assert status["active_sessions"] == 0
        assert status["discovery"] is None
        assert [item["executor_id"] for item in status["executors"]] == ["exec-a"]

        await harness.http.post("/debug/session", json={"cluster_id": "prod-1"}, headers=harness.auth())
        assert harness.clock is not None
        harness.clock.advance(46)
        stale = (await harness.http.get("/clusters/prod-1/status", headers=harness.auth())).json()
    assert stale["status"] == "disconnected"
    assert stale["executors"][0]["connected"] is False
    assert stale["active_sessions"] == 1


async def test_status_of_unknown_and_invalid_clusters(harness: Harness) -> None:
    unknown = await harness.http.get("/clusters/nowhere/status", headers=harness.auth())
    invalid = await harness.http.get("/clusters/Not_Valid/status", headers=harness.auth())
    assert unknown.status_code == 404
    assert unknown.json()["details"]["code"] == "CLUSTER_NOT_FOUND"
    assert invalid.status_code == 422


async def test_ping_measures_the_round_trip(harness: Harness) -> None:
    async with harness.connected_executor("prod-1") as executor:
        response = await harness.http.post("/clusters/prod-1/ping", headers=harness.auth())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["output"] == "pong"
    assert 0 < body["round_trip_ms"] < 5000
    assert executor.received[0]["kind"] == "ping"
    assert executor.received[0]["args"] == []
    audit = await harness.audit(action="cluster.ping")
    assert audit["events"][0]["outcome"] == "success"


async def test_ping_without_an_executor_is_503(harness: Harness) -> None:
    await harness.add_cluster("prod-1")
    response = await harness.http.post("/clusters/prod-1/ping", headers=harness.auth())
    assert response.status_code == 503
    assert response.json()["details"]["code"] == "AGENT_DISCONNECTED"


async def test_rotate_token_and_remove(harness: Harness) -> None:
    old_token = await harness.add_cluster("prod-1")
    registry: ClusterRegistry = harness.app.state.cluster_registry
    old = harness.executor("prod-1", old_token)
    await old.heartbeat()
    async with harness.app.state.database.session() as session:
        issued = await registry.rotate_token(session, "prod-1", actor=Actor(key_id=None, name="test"))
    assert issued.token != old_token
    assert (await harness.http.get("/agent/status", headers=old.headers)).status_code == 401
    await harness.executor("prod-1", issued.token).heartbeat()

    async with harness.app.state.database.session() as session:
        await registry.remove(session, "prod-1", actor=Actor(key_id=None, name="test"))
    assert (await harness.http.get("/clusters/prod-1/status", headers=harness.auth())).status_code == 404
    audit = await harness.audit(action="cluster")
    actions = sorted(event["action"] for event in audit["events"])
    assert actions == ["cluster.add", "cluster.remove", "cluster.rotate_token"]


async def test_adding_a_cluster_twice_or_with_a_bad_id_fails(harness: Harness) -> None:
    await harness.add_cluster("prod-1")
    registry: ClusterRegistry = harness.app.state.cluster_registry
    actor = Actor(key_id=None, name="test")
    for cluster_id, mode, status in (
        ("prod-1", None, 409),
        ("Bad_Id", None, 422),
        ("prod-2", "godMode", 422),
    ):
        with pytest.raises(ApiError) as raised:
            async with harness.app.state.database.session() as session:
                await registry.add(session, cluster_id, actor=actor, security_mode=mode)
        assert raised.value.status_code == status


async def test_discovery_feeds_the_servers_policy(harness: Harness) -> None:
    async with harness.connected_executor("prod-1") as executor:
        before = await harness.execute(cluster_id="prod-1", command_type="get", args=["wd"])
        reported = await harness.http.post(
            "/agent/discovery", json=discovery_payload(WIDGETS), headers=executor.headers
        )
        after = await harness.execute(cluster_id="prod-1", command_type="get", args=["wd"])
        secrets = await harness.execute(cluster_id="prod-1", command_type="get", args=["secret"])
        status = await harness.http.get("/clusters/prod-1/status", headers=harness.auth())
    assert before.status_code == 422
    assert before.json()["details"]["policy_code"] == "UNKNOWN_RESOURCE"
    assert reported.status_code == 200, reported.text
    assert reported.json()["resources"] == len(builtin_resources()) + 1
    assert after.status_code == 200, after.text
    assert after.json()["args"] == ["get", "wd"]
    # The reported list still knows the core Secret, so the read-only check holds.
    assert secrets.json()["details"]["policy_code"] == "FORBIDDEN_RESOURCE"
    assert status.json()["discovery"]["resources"] == len(builtin_resources()) + 1


async def test_discovery_without_core_types_is_refused(harness: Harness) -> None:
    token = await harness.add_cluster("prod-1")
    executor = harness.executor("prod-1", token)
    response = await harness.http.post(
        "/agent/discovery", json={"resources": [WIDGETS]}, headers=executor.headers
    )
    empty = await harness.http.post("/agent/discovery", json={"resources": []}, headers=executor.headers)
    assert response.status_code == 422
    assert "secrets" in response.json()["details"]["errors"][0]["message"]
    assert empty.status_code == 422


async def test_listing_clusters_needs_admin(harness: Harness) -> None:
    reader = await harness.create_key("reader")
    assert (await harness.http.get("/clusters", headers=harness.auth(reader))).status_code == 403


async def test_policies_are_kept_per_security_mode_and_catalog(harness: Harness) -> None:
    registry: ClusterRegistry = harness.app.state.cluster_registry
    await harness.add_cluster("prod-2", security_mode="readOnly")
    view = await registry.view("prod-2")

    read_only = await registry.policy_for(view)
    assert await registry.policy_for(view) is read_only
    assert read_only.decide(["get", "pods"]).allowed
    assert not read_only.decide(["delete", "pod", "web"]).allowed
    # Another mode is another policy: nothing it remembers leaks across.
    full = await registry.policy_for(replace(view, security_mode=SecurityMode.FULL_ACCESS))
    assert full is not read_only
    assert full.decide(["delete", "pod", "web"]).allowed
    assert not read_only.decide(["delete", "pod", "web"]).allowed
