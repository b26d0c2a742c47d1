"""The AI core end to end: investigate, propose, approve, apply with a dry run, verify."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from pilothouse.actions.models import ProposedAction
from tests.cluster_api.conftest import READONLY_CLUSTER, ClusterApiStack


def wait_for_investigation(
    client: httpx.Client, investigation_id: str, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/api/v1/ai/investigations/{investigation_id}").json()
        if body["status"] in ("completed", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"investigation {investigation_id} did not finish")


def investigate(client: httpx.Client, kind: str, namespace: str, name: str) -> dict[str, Any]:
    started = client.post(
        "/api/v1/ai/investigate",
        json={
            "resource_kind": kind,
            "namespace": namespace,
            "resource_name": name,
            "symptoms": ["not ready"],
        },
    )
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["status"] == "in_progress"
    assert body["investigation_id"].startswith("inv-")
    finished = wait_for_investigation(client, body["investigation_id"])
    assert finished["status"] == "completed", finished
    return finished


def until_action(
    stack: ClusterApiStack, client: httpx.Client, action_id: str, wanted: set[str]
) -> dict[str, Any]:
    """Move the simulated clock along until the action reaches one of ``wanted``."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        action: dict[str, Any] = client.get(f"/api/v1/ai/actions/{action_id}").json()
        if action["status"] in wanted:
            return action
        stack.advance(5)
        time.sleep(0.1)
    raise AssertionError(f"action {action_id} stayed {action['status']}: {action['history']}")


@pytest.fixture(scope="module")
def admin(ai_stack: ClusterApiStack) -> httpx.Client:
    client = ai_stack.client("direct")
    fast = {"investigation_settings": {"verification_stable_seconds": 2, "verification_timeout_seconds": 120}}
    assert client.put("/api/v1/ai/config", json=fast).status_code == 200
    return client


def test_oom_killed_workload_gets_more_memory_and_recovers(
    ai_stack: ClusterApiStack, admin: httpx.Client
) -> None:
    finished = investigate(admin, "Deployment", "search", "indexer")
    assert finished["top_cause"] == "oom-killed"
    assert "OOMKilled" in finished["findings_summary"]
    assert finished["severity"] in ("critical", "high", "medium")
    assert finished["findings"][0]["evidence"]
    actions = finished["actions"]
    memory = next(action for action in actions if action["action_type"] == "set_resources")
    assert memory["status"] == "pending"
    assert {key: memory["resource"][key] for key in ("kind", "namespace", "name")} == {
        "kind": "Deployment",
        "namespace": "search",
        "name": "indexer",
    }
    change = next(value for path, value in memory["changes"].items() if "memory" in path and "limits" in path)
    assert change == {"current": "512Mi", "proposed": "1Gi"}
    assert memory["risk_assessment"]["requires_approval"] is True
    assert memory["expires_at"] > memory["proposed_at"]

    pending = admin.get(
        "/api/v1/ai/actions/pending", params={"investigation_id": finished["investigation_id"]}
    ).json()
    assert memory["action_id"] in [item["action_id"] for item in pending["pending_actions"]]

    approved = admin.post(
        f"/api/v1/ai/actions/{memory['action_id']}/approve", json={"approval_notes": "on-call ok"}
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["execution_status"] == "executing"
    assert approved.json()["approved_by"] == "cluster-api-admin"

    done = until_action(ai_stack, admin, memory["action_id"], {"verified", "failed"})
    assert done["status"] == "verified", done["history"]
    assert [step["status"] for step in done["history"]] == ["pending", "executing", "applied", "verified"]
    assert done["result"]["verification"]["verified"] is True
    deployment = admin.get("/api/v1/resources/Deployment/search/indexer").json()
    limits = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["memory"] == "1Gi"

    again = admin.post(f"/api/v1/ai/actions/{memory['action_id']}/approve")
    assert again.status_code == 409
    audit = admin.get("/debug/audit", params={"limit": 1000}).json()["events"]
    assert any(event["action"] == "action.approve" and event["outcome"] == "success" for event in audit)


def test_crash_loop_from_a_missing_variable_rejected_then_fixed(
    ai_stack: ClusterApiStack, admin: httpx.Client
) -> None:
    first = investigate(admin, "Deployment", "payments", "payments-api")
    assert first["top_cause"] == "missing-env-var"
    proposal = next(action for action in first["actions"] if action["status"] == "pending")
    rejected = admin.post(f"/api/v1/ai/actions/{proposal['action_id']}/reject", json={"reason": "not now"})
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    assert admin.post(f"/api/v1/ai/actions/{proposal['action_id']}/approve").status_code == 409

    second = investigate(admin, "Deployment", "payments", "payments-api")
    fix = next(action for action in second["actions"] if action["status"] == "pending")
    assert "DATABASE_URL" in str(fix["changes"])
    assert admin.post(f"/api/v1/ai/actions/{fix['action_id']}/approve").status_code == 200
    done = until_action(ai_stack, admin, fix["action_id"], {"verified", "failed"})
    assert done["status"] == "verified", done["history"]


def test_bad_image_tag_expired_then_fixed(ai_stack: ClusterApiStack, admin: httpx.Client) -> None:
    first = investigate(admin, "Deployment", "storefront", "storefront")
    assert first["top_cause"] == "image-not-found"
    proposal = next(action for action in first["actions"] if action["action_type"] == "set_image")
    assert next(iter(proposal["changes"].values()))["proposed"] == "acme/storefront:2.41.0"
    ai_stack.run(_expire(ai_stack, proposal["action_id"]))
    expired = admin.post(f"/api/v1/ai/actions/{proposal['action_id']}/approve")
    assert expired.status_code == 409
    assert expired.json()["error"] == "action_expired"
    assert expired.json()["action_id"] == proposal["action_id"]
    assert admin.get(f"/api/v1/ai/actions/{proposal['action_id']}").json()["status"] == "expired"

    second = investigate(admin, "Deployment", "storefront", "storefront")
    fix = next(action for action in second["actions"] if action["action_type"] == "set_image")
    assert admin.post(f"/api/v1/ai/actions/{fix['action_id']}/approve").status_code == 200
    done = until_action(ai_stack, admin, fix["action_id"], {"verified", "failed"})
    assert done["status"] == "verified", done["history"]


async def _expire(stack: ClusterApiStack, action_id: str) -> None:
    database = stack.app.state.database
    async with database.session() as session:
        row = await session.get(ProposedAction, action_id)
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(minutes=1)


def test_investigating_a_missing_resource_is_a_400(admin: httpx.Client) -> None:
    response = admin.post(
        "/api/v1/ai/investigate",
        json={"resource_kind": "Pod", "namespace": "default", "resource_name": "nope"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_investigation_request"


def test_status_and_config_tell_the_truth(admin: httpx.Client, ai_stack: ClusterApiStack) -> None:
    status = admin.get("/api/v1/ai/status").json()
    assert status["llm_configured"] is False
    assert status["mode"] == "deterministic"
    config = admin.get("/api/v1/ai/config").json()
    assert config["safety_policy"]["autonomy_level"] == "2_review_before_apply"
    reader = ai_stack.create_key("ai-reader", ["read"])
    with ai_stack.client("direct", key=reader) as client:
        assert client.get("/api/v1/ai/config").status_code == 403
        assert client.put("/api/v1/ai/config", json={}).status_code == 403
        assert (
            client.post(
                "/api/v1/ai/investigate", json={"resource_kind": "Pod", "resource_name": "x"}
            ).status_code
            == 403
        )


def test_listing_filters(admin: httpx.Client) -> None:
    # Its own investigation: under xdist the other tests of this module may run elsewhere.
    investigate(admin, "Deployment", "search", "indexer")
    listing = admin.get(
        "/api/v1/ai/investigations", params={"status": "completed", "namespace": "search"}
    ).json()
    assert listing["total_count"] >= 1
    assert all(item["status"] == "completed" for item in listing["items"])
    assert "findings" not in listing["items"][0]
    with_findings = admin.get(
        "/api/v1/ai/investigations", params={"include_findings": "true", "limit": 1}
    ).json()
    assert "findings" in with_findings["items"][0]
    bad = admin.get("/api/v1/ai/investigations", params={"status": "bogus"})
    assert bad.status_code == 400
    summary = admin.get("/api/v1/ai/analytics/summary", params={"time_period": "24h"}).json()
    assert summary["investigations"]["total_initiated"] >= 1


def test_insights_scan_and_dismiss(admin: httpx.Client) -> None:
    scanned = admin.post("/api/v1/ai/insights/scan")
    assert scanned.status_code == 200, scanned.text
    insights = admin.get("/api/v1/ai/insights", params={"limit": 1000}).json()
    assert insights["total_count"] >= 1
    first = insights["insights"][0]
    assert first["insight_id"].startswith("ins-")
    assert first["severity"] in ("critical", "warning", "info")
    again = admin.post("/api/v1/ai/insights/scan").json()
    assert again["new"] == 0
    same = admin.get("/api/v1/ai/insights", params={"limit": 1000}).json()
    assert {item["insight_id"] for item in same["insights"]} == {
        item["insight_id"] for item in insights["insights"]
    }
    dismissed = admin.post(
        f"/api/v1/ai/insights/{first['insight_id']}/dismiss", json={"reason": "acknowledged_wont_fix"}
    )
    assert dismissed.status_code == 200
    assert dismissed.json()["reason"] == "acknowledged_wont_fix"
    visible = admin.get("/api/v1/ai/insights", params={"limit": 1000}).json()
    assert first["insight_id"] not in {item["insight_id"] for item in visible["insights"]}
    shown = admin.get("/api/v1/ai/insights", params={"limit": 1000, "dismissed": "true"}).json()
    assert first["insight_id"] in {item["insight_id"] for item in shown["insights"]}


def test_periodic_scan_leaves_out_tunnel_clusters_without_an_executor_here(
    ai_stack: ClusterApiStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This stack's ``tunnel`` cluster has no executor connected: a round scans the direct clusters
    and does not try it (which could only fail, with a warning per cluster and round)."""
    service = ai_stack.app.state.insights
    assert ai_stack.app.state.tunnel_hub.connected("tunnel") == []
    tried: list[str] = []
    scan_cluster = service.scan_cluster

    async def scan_cluster_noted(cluster_id: str) -> dict[str, int]:
        tried.append(cluster_id)
        counts: dict[str, int] = await scan_cluster(cluster_id)
        return counts

    monkeypatch.setattr(service, "scan_cluster", scan_cluster_noted)
    counts = ai_stack.run(service.scan_all())
    assert sorted(tried) == sorted(counts) == sorted(["direct", READONLY_CLUSTER])
    assert counts["direct"]["findings"] >= 1
