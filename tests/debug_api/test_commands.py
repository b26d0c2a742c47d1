"""POST /debug/execute(/async), operations, results and the executor side of delivery."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import select

from pilothouse.commands.models import Command
from tests.debug_api.conftest import CANNED_PODS, Harness, MakeHarness, canned_answer

# Settings for delivery tests: 1 s commands, 1.5 s leases, so redelivery happens quickly.
GET_PODS = {"cluster_id": "prod-1", "command_type": "get", "args": ["pods"]}
FAST = {
    "command_timeout_default_seconds": 1,
    "command_timeout_max_seconds": 1,
    "executor_lease_seconds": 1.5,
}


async def test_sync_execute_returns_the_superset_body(harness: Harness) -> None:
    async with harness.connected_executor("prod-1") as executor:
        response = await harness.execute(
            cluster_id="prod-1", command_type="get", args=["pods", "-o", "wide"], namespace="shop"
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["output"] == CANNED_PODS
    assert body["command_id"] == body["result_id"]
    assert body["command_id"].startswith("cmd_")
    assert body["operation_id"] == "op_" + body["command_id"].removeprefix("cmd_")
    assert (body["status"], body["state"]) == ("success", "completed")
    assert (body["success"], body["exit_code"]) == (True, 0)
    assert body["execution_time_ms"] == 12
    assert body["executed_at"] is not None
    # The request's namespace is put into the arguments the executor runs.
    assert body["args"] == ["get", "--namespace=shop", "pods", "-o", "wide"]
    assert executor.received[0]["args"] == body["args"]
    assert executor.received[0]["kind"] == "kubectl"
    assert executor.received[0]["lease_seconds"] == 45
    assert executor.received[0]["timeout"] == 10

    stored = await harness.http.get(f"/debug/result/{body['result_id']}", headers=harness.auth())
    assert stored.status_code == 200
    assert stored.json() == body


@pytest.mark.parametrize("args", [["pods"], ["get", "pods"]])
async def test_args_with_or_without_the_leading_verb_mean_the_same(harness: Harness, args: list[str]) -> None:
    async with harness.connected_executor("prod-1"):
        response = await harness.execute(cluster_id="prod-1", command_type="get", args=args)
    assert response.status_code == 200, response.text
    assert response.json()["args"] == ["get", "pods"]


async def test_a_resource_named_like_a_verb_is_not_taken_for_a_verb(harness: Harness) -> None:
    async with harness.connected_executor("prod-1"):
        response = await harness.execute(cluster_id="prod-1", command_type="get", args=["events"])
    assert response.status_code == 200, response.text
    assert response.json()["args"] == ["get", "events"]


async def test_the_result_wakes_the_waiter_and_the_poll_at_once(harness: Harness) -> None:
    token = await harness.add_cluster("prod-1")
    executor = harness.executor("prod-1", token)
    await executor.heartbeat()
    # The executor is already waiting in a long poll when the command is sent.
    poll = asyncio.create_task(executor.poll(wait=30))
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    execute = asyncio.create_task(harness.execute(cluster_id="prod-1", command_type="get", args=["pods"]))
    (command,) = await asyncio.wait_for(poll, 5)
    assert time.perf_counter() - started < 1.0
    answer = canned_answer(command)
    assert answer is not None
    await executor.post_result(command["id"], answer)
    response = await asyncio.wait_for(execute, 5)
    assert response.status_code == 200
    assert time.perf_counter() - started < 1.5


async def test_async_execute_and_poll_the_operation(harness: Harness) -> None:
    token = await harness.add_cluster("prod-1")
    executor = harness.executor("prod-1", token)
    await executor.heartbeat()
    accepted = await harness.http.post(
        "/debug/execute/async",
        json={"cluster_id": "prod-1", "command_type": "logs", "args": ["pod/web-1"], "timeout": 5},
        headers=harness.auth(),
    )
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["status"] == "pending"
    assert body["poll_url"] == f"/debug/operations/{body['operation_id']}"
    assert body["result_url"] == f"/debug/result/{body['command_id']}"

    pending = (await harness.http.get(body["poll_url"], headers=harness.auth())).json()
    assert pending["status"] == "pending"
    assert pending["result"] is None

    (command,) = await executor.poll()
    assert command["timeout"] == 5
    running = (await harness.http.get(body["poll_url"], headers=harness.auth())).json()
    assert running["status"] == "running"

    await executor.post_result(
        command["id"], {"success": False, "output": "", "error": "pod not found", "exit_code": 1}
    )
    done = (await harness.http.get(body["poll_url"], headers=harness.auth())).json()
    assert done["status"] == "completed"
    assert done["completed_at"] is not None
    assert done["result"]["status"] == "failure"
    assert done["result"]["state"] == "completed"
    assert done["result"]["error"] == "pod not found"
    assert done["result"]["exit_code"] == 1


async def test_503_when_no_executor_is_connected_and_nothing_is_queued(harness: Harness) -> None:
    await harness.add_cluster("prod-1")
    response = await harness.execute(cluster_id="prod-1", command_type="get", args=["pods"])
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "service_unavailable"
    assert body["details"]["code"] == "AGENT_DISCONNECTED"
    assert body["details"]["cluster_id"] == "prod-1"
    async with harness.app.state.database.session() as session:
        assert (await session.scalars(select(Command))).all() == []


async def test_503_once_the_executor_has_gone_stale(make_harness: MakeHarness) -> None:
    async with make_harness(fake_clock=True) as harness:
        token = await harness.add_cluster("prod-1")
        await harness.executor("prod-1", token).heartbeat()
        assert harness.clock is not None
        harness.clock.advance(46)
        response = await harness.execute(cluster_id="prod-1", command_type="get", args=["pods"])
    assert response.status_code == 503
    assert response.json()["details"]["last_seen"] is not None


async def test_404_for_an_unknown_cluster(harness: Harness) -> None:
    response = await harness.execute(cluster_id="nowhere", command_type="get", args=["pods"])
    assert response.status_code == 404
    assert response.json()["details"]["code"] == "CLUSTER_NOT_FOUND"


@pytest.mark.parametrize(
    ("command_type", "args", "policy_code"),
    [
        ("delete", ["pod", "web-1"], "FORBIDDEN_COMMAND"),
        ("get", ["pods", "-A", "--no-headers", "|", "wc", "-l"], "SHELL_SYNTAX"),
        ("get", ["secrets"], "FORBIDDEN_RESOURCE"),
        ("get", ["pods", "--token=abc"], "FORBIDDEN_FLAG"),
        ("edit", ["deployment/web"], "FORBIDDEN_COMMAND"),
    ],
)
async def test_policy_denials_are_422_command_forbidden_and_audited(
    harness: Harness, command_type: str, args: list[str], policy_code: str
) -> None:
    async with harness.connected_executor("prod-1") as executor:
        response = await harness.execute(cluster_id="prod-1", command_type=command_type, args=args)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "command_forbidden"
    assert body["details"]["code"] == "COMMAND_FORBIDDEN"
    assert body["details"]["policy_code"] == policy_code
    assert body["details"]["reason"] in body["message"]
    assert body["details"]["security_mode"] == "readOnly"
    assert executor.received == []
    audit = await harness.audit(action="command.denied")
    (event,) = audit["events"]
    assert event["outcome"] == "denied"
    assert event["args"] == [command_type, *args]
    assert event["details"]["policy_code"] == policy_code


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cluster_id": "Invalid_Cluster", "command_type": "get", "args": ["pods"]}, "cluster_id"),
        ({"cluster_id": "prod-1", "command_type": "get", "args": []}, "args"),
        ({"cluster_id": "prod-1", "command_type": "get", "args": ["pods"] * 21}, "args"),
        ({"cluster_id": "prod-1", "command_type": "frobnicate", "args": ["pods"]}, "command_type"),
        ({"cluster_id": "prod-1", "command_type": "describe", "args": ["get", "pods"]}, "args"),
        ({**GET_PODS, "timeout_seconds": 31}, "timeout_seconds"),
        ({**GET_PODS, "timeout_seconds": 0}, "timeout_seconds"),
        ({**GET_PODS, "namespace": "Bad NS"}, "namespace"),
        ({**GET_PODS, "timeout": 5, "timeout_seconds": 6}, "body"),
    ],
)
async def test_invalid_requests_are_422_validation_errors(
    harness: Harness, body: dict[str, Any], field: str
) -> None:
    async with harness.connected_executor("prod-1"):
        response = await harness.http.post("/debug/execute", json=body, headers=harness.auth())
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["details"]["code"] == "VALIDATION_ERROR"
    assert any(error["field"] == field for error in payload["details"]["errors"]), payload


async def test_changes_need_the_matching_scope(harness: Harness) -> None:
    reader = await harness.create_key("reader", ["read"])
    deleter = await harness.create_key("deleter", ["read", "delete"])
    async with harness.connected_executor("prod-1", security_mode="fullAccess"):
        delete = {"cluster_id": "prod-1", "command_type": "delete", "args": ["pod", "web-1"]}
        refused = await harness.execute(reader, **delete)
        allowed = await harness.execute(deleter, **delete)
        scaled = await harness.execute(
            deleter, cluster_id="prod-1", command_type="scale", args=["deploy/web", "--replicas=2"]
        )
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    assert refused.json()["details"]["required_scope"] == "delete"
    assert allowed.status_code == 200, allowed.text
    assert scaled.status_code == 403
    assert scaled.json()["details"]["required_scope"] == "write"


async def test_408_then_a_late_result_is_still_stored(make_harness: MakeHarness) -> None:
    async with make_harness(command_result_grace_seconds=0.3) as harness:
        token = await harness.add_cluster("prod-1")
        executor = harness.executor("prod-1", token)
        await executor.heartbeat()
        execute = asyncio.create_task(
            harness.execute(cluster_id="prod-1", command_type="get", args=["pods"], timeout_seconds=1)
        )
        (command,) = await executor.poll(wait=5)
        response = await execute
        assert response.status_code == 408, response.text
        body = response.json()
        assert body["error"] == "timeout"
        assert body["details"]["code"] == "TIMEOUT"
        assert body["details"]["command_id"] == command["id"]

        late = await executor.post_result(command["id"], {"success": True, "output": "late pods"})
        assert late.status_code == 200
        assert late.json()["stored"] is True
        result = (await harness.http.get(f"/debug/result/{command['id']}", headers=harness.auth())).json()
        audit = await harness.audit(action="command.execute")
    assert result["status"] == "timeout"
    assert result["state"] == "timeout"
    assert result["late_result"] is True
    assert result["output"] == "late pods"
    (event,) = audit["events"]
    assert event["outcome"] == "timeout"
    assert event["command_id"] == command["id"]


async def test_an_executor_reported_timeout_is_408(harness: Harness) -> None:
    def timed_out(command: dict[str, Any]) -> dict[str, Any]:
        return {"success": False, "output": "partial", "error": "killed after 10 s", "timed_out": True}

    async with harness.connected_executor("prod-1", answer=timed_out):
        response = await harness.execute(cluster_id="prod-1", command_type="get", args=["pods"])
    assert response.status_code == 408
    result = await harness.http.get(response.json()["details"]["result_url"], headers=harness.auth())
    assert result.json()["output"] == "partial"
    assert result.json()["late_result"] is False


async def test_redelivery_when_the_first_leaseholder_never_answers(make_harness: MakeHarness) -> None:
    async with make_harness(**FAST) as harness:
        token = await harness.add_cluster("prod-1")
        silent = harness.executor("prod-1", token, executor_id="dies")
        await silent.heartbeat()
        execute = asyncio.create_task(harness.execute(cluster_id="prod-1", command_type="get", args=["pods"]))
        (first,) = await silent.poll(wait=5)
        # The first executor dies holding the lease; another one takes over.
        async with harness.executor("prod-1", token, executor_id="survivor").running() as survivor:
            response = await execute
    assert response.status_code == 200, response.text
    assert response.json()["delivery_count"] == 2
    assert survivor.received[0]["id"] == first["id"]


async def test_results_are_idempotent_first_wins(harness: Harness) -> None:
    token = await harness.add_cluster("prod-1")
    executor = harness.executor("prod-1", token)
    await executor.heartbeat()
    execute = asyncio.create_task(harness.execute(cluster_id="prod-1", command_type="get", args=["pods"]))
    (command,) = await executor.poll(wait=5)
    first = await executor.post_result(command["id"], {"success": True, "output": "first"})
    second = await executor.post_result(command["id"], {"success": False, "output": "second", "exit_code": 1})
    response = await execute
    assert first.json() == {
        "message": "Result stored successfully",
        "command_id": command["id"],
        "stored": True,
    }
    assert second.status_code == 200
    assert second.json()["stored"] is False
    assert response.json()["output"] == "first"
    assert response.json()["status"] == "success"
    audit = await harness.audit(action="command.execute")
    assert audit["total"] == 1


async def test_results_for_unknown_or_foreign_commands_are_404(harness: Harness) -> None:
    token_a = await harness.add_cluster("cluster-a")
    token_b = await harness.add_cluster("cluster-b")
    executor_a = harness.executor("cluster-a", token_a)
    executor_b = harness.executor("cluster-b", token_b)
    await executor_a.heartbeat()
    execute = asyncio.create_task(harness.execute(cluster_id="cluster-a", command_type="get", args=["pods"]))
    (command,) = await executor_a.poll(wait=5)
    foreign = await executor_b.post_result(command["id"], {"success": True, "output": "not mine"})
    unknown = await executor_a.post_result("cmd_nope", {"success": True, "output": ""})
    await executor_a.post_result(command["id"], {"success": True, "output": "mine"})
    response = await execute
    assert foreign.status_code == 404
    assert foreign.json()["details"]["code"] == "COMMAND_NOT_FOUND"
    assert unknown.status_code == 404
    assert response.json()["output"] == "mine"


async def test_output_is_redacted_and_capped(make_harness: MakeHarness) -> None:
    secret_output = (
        "Authorization: Bearer abcdef0123456789abcdef\n"
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"
    )

    def leaky(command: dict[str, Any]) -> dict[str, Any]:
        if command["args"][-1] == "big":
            return {"success": True, "output": "é" * 2000}
        return {"success": True, "output": secret_output, "error": "token: abcdef0123456789abcdef"}

    async with make_harness(max_output_bytes=1024) as harness:
        async with harness.connected_executor("prod-1", answer=leaky):
            redacted = await harness.execute(cluster_id="prod-1", command_type="get", args=["pods"])
            big = await harness.execute(cluster_id="prod-1", command_type="get", args=["pods", "big"])
        async with harness.app.state.database.session() as session:
            stored = await session.get(Command, redacted.json()["command_id"])
    body = redacted.json()
    assert "abcdef0123456789abcdef" not in body["output"]
    assert "MIIEowIBAAKCAQEA" not in body["output"]
    assert "<redacted>" in body["output"]
    assert "abcdef0123456789abcdef" not in (body["error"] or "")
    assert stored is not None
    assert stored.output == body["output"]
    assert big.json()["truncated"] is True
    assert len(big.json()["output"].encode()) <= 1024
    assert big.json()["output"] == "é" * 512


async def test_a_command_nobody_took_in_time_is_withdrawn_not_run_late(make_harness: MakeHarness) -> None:
    async with make_harness(command_result_grace_seconds=0.2, **FAST) as harness:
        token = await harness.add_cluster("prod-1")
        executor = harness.executor("prod-1", token)
        await executor.heartbeat()  # connected, but not polling
        response = await harness.execute(cluster_id="prod-1", command_type="get", args=["pods"])
        assert response.status_code == 408
        assert await executor.poll(wait=0.5) == []
        result = await harness.http.get(response.json()["details"]["result_url"], headers=harness.auth())
    assert result.json()["status"] == "timeout"
    assert result.json()["delivery_count"] == 0
    assert result.json()["error"] == "no result within 1.2 s"


async def test_a_command_whose_executors_keep_dying_is_given_up(make_harness: MakeHarness) -> None:
    async with make_harness(command_max_deliveries=1, **FAST) as harness:
        token = await harness.add_cluster("prod-1")
        executor = harness.executor("prod-1", token)
        await executor.heartbeat()
        execute = asyncio.create_task(harness.execute(cluster_id="prod-1", command_type="get", args=["pods"]))
        assert len(await executor.poll(wait=5)) == 1
        # The lease runs out; the next poll finds the command over its delivery limit.
        assert await executor.poll(wait=2.5) == []
        response = await execute
    assert response.status_code == 200
    assert response.json()["status"] == "failure"
    assert "1 deliveries" in response.json()["error"]


async def test_request_timeout_header_caps_the_command_timeout(harness: Harness) -> None:
    async with harness.connected_executor("prod-1") as executor:
        response = await harness.http.post(
            "/debug/execute",
            json={"cluster_id": "prod-1", "command_type": "get", "args": ["pods"], "timeout_seconds": 20},
            headers={**harness.auth(), "X-Request-Timeout": "4"},
        )
        invalid = await harness.http.post(
            "/debug/execute",
            json={"cluster_id": "prod-1", "command_type": "get", "args": ["pods"]},
            headers={**harness.auth(), "X-Request-Timeout": "soon"},
        )
    assert response.json()["timeout_seconds"] == 4
    assert executor.received[0]["timeout"] == 4
    assert invalid.status_code == 400


async def test_results_are_visible_to_their_key_and_admins_only(harness: Harness) -> None:
    first = await harness.create_key("first")
    second = await harness.create_key("second")
    async with harness.connected_executor("prod-1"):
        response = await harness.execute(first, cluster_id="prod-1", command_type="get", args=["pods"])
    result_url = f"/debug/result/{response.json()['result_id']}"
    operation_url = f"/debug/operations/{response.json()['operation_id']}"
    assert (await harness.http.get(result_url, headers=harness.auth(first))).status_code == 200
    assert (await harness.http.get(result_url, headers=harness.auth(second))).status_code == 404
    assert (await harness.http.get(operation_url, headers=harness.auth(second))).status_code == 404
    assert (await harness.http.get(result_url, headers=harness.auth())).status_code == 200
    missing = await harness.http.get("/debug/operations/op_missing", headers=harness.auth())
    assert missing.json()["details"]["code"] == "OPERATION_NOT_FOUND"


async def test_agent_status_reports_waiting_commands(harness: Harness) -> None:
    token = await harness.add_cluster("prod-1")
    executor = harness.executor("prod-1", token)
    idle = await executor.heartbeat()
    assert idle == {"cluster_id": "prod-1", "is_active": False, "queue_depth": 0}
    accepted = await harness.http.post(
        "/debug/execute/async",
        json={"cluster_id": "prod-1", "command_type": "get", "args": ["pods"]},
        headers=harness.auth(),
    )
    assert accepted.status_code == 202
    assert await executor.heartbeat() == {"cluster_id": "prod-1", "is_active": True, "queue_depth": 1}
    await executor.poll()
    assert (await executor.heartbeat())["queue_depth"] == 0


async def test_concurrent_commands_each_get_their_own_result(harness: Harness) -> None:
    def echo(command: dict[str, Any]) -> dict[str, Any]:
        return {"success": True, "output": " ".join(command["args"])}

    async with harness.connected_executor("prod-1", answer=echo):
        responses = await asyncio.gather(
            *(
                harness.execute(cluster_id="prod-1", command_type="get", args=["pod", f"web-{index}"])
                for index in range(8)
            )
        )
    outputs = sorted(response.json()["output"] for response in responses)
    assert outputs == sorted(f"get pod web-{index}" for index in range(8))


async def test_executor_authentication(harness: Harness) -> None:
    token = await harness.add_cluster("prod-1")
    other = await harness.add_cluster("prod-2")
    for headers in (
        {"Authorization": "Bearer wrong", "X-Cluster-ID": "prod-1"},
        {"Authorization": f"Bearer {other}", "X-Cluster-ID": "prod-1"},
        {"Authorization": f"Bearer {token}"},
        {"X-Cluster-ID": "prod-1"},
        {"Authorization": f"Bearer {token}", "X-Cluster-ID": "Prod_1"},
        # A client API key is not an executor token.
        {"Authorization": f"Bearer {harness.admin_key}", "X-Cluster-ID": "prod-1"},
    ):
        response = await harness.http.get("/agent/status", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["details"]["code"] == "UNAUTHORIZED"
    # Executor tokens are not client keys either.
    client = await harness.http.get("/debug/sessions", headers={"Authorization": f"Bearer {token}"})
    assert client.status_code == 401


async def test_the_poll_keeps_the_cluster_connected(make_harness: MakeHarness) -> None:
    async with make_harness(executor_stale_seconds=0.6) as harness:
        token = await harness.add_cluster("prod-1")
        executor = harness.executor("prod-1", token)
        poll = asyncio.create_task(executor.poll(wait=1.5))
        await asyncio.sleep(1.0)
        # Mid-poll, longer than the staleness limit after the poll began.
        status = await harness.http.get("/clusters/prod-1/status", headers=harness.auth())
        assert await poll == []
    assert status.json()["status"] == "connected"


async def test_each_command_is_audited_once_when_it_finishes(harness: Harness) -> None:
    async with harness.connected_executor("prod-1"):
        await harness.execute(cluster_id="prod-1", command_type="get", args=["pods"])
    audit = await harness.audit(action="command")
    assert audit["total"] == 1
    event = audit["events"][0]
    assert event["outcome"] == "success"
    assert event["principal_name"] == "bootstrap-admin"
    assert event["args"] == ["get", "pods"]
    assert event["duration_ms"] >= 0
    assert event["request_id"].startswith("req-")
