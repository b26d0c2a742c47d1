"""An agent's view of the Debug API: keys, kubectl through the tunnel, policy, async, audit.

One stack for the module: the ``crashloop-missing-env`` scenario two and a half simulated minutes
in (payments-api crash-looping, postgres running), plus a pod called ``delete-me``, served by one
real executor. Every kubectl output is compared with kubectl run directly against the same cluster.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import (
    CLUSTER_ID,
    IDLE_CLUSTER_ID,
    ExecutorProcess,
    LiveStack,
    StackOptions,
    assert_audited,
    mask_ages,
    wait_until,
)

DELETE_ME = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "delete-me", "namespace": "payments", "labels": {"app": "delete-me"}},
    "spec": {"containers": [{"name": "db", "image": "postgres:16.4"}]},
}


@pytest.fixture(scope="module")
def stack_options() -> StackOptions:
    return StackOptions(scenario="crashloop-missing-env", advance_seconds=150, manifests=[DELETE_ME])


@pytest.fixture(scope="module")
def agent_key(stack: LiveStack) -> tuple[str, str]:
    """A read-only key, as an agent would be given: (key, key id)."""
    return stack.create_key("agent", ["read"])


@pytest.fixture(autouse=True)
def _served(executor: ExecutorProcess) -> None:
    """Every test here runs with the module's executor connected."""


def crashing_pod(stack: LiveStack) -> str:
    names = stack.kubectl("get", "pods", "-n", "payments", "-l", "app=payments-api", "-o", "name").split()
    assert names, "the scenario has no payments-api pod"
    return names[0].removeprefix("pod/")


def execute(stack: LiveStack, key: str, *, style: str = "x-api-key", **body: Any) -> dict[str, Any]:
    """A sync execute that must succeed; the result body."""
    with stack.client(key, style=style) as client:
        response = client.post("/debug/execute", json={"cluster_id": CLUSTER_ID, **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert result["status"] == "success", result
    assert result["exit_code"] == 0
    return result


# --- authentication and authorisation ---------------------------------------------------------


@pytest.mark.parametrize("style", ["x-api-key", "bearer"])
def test_sessions_and_execute_accept_both_header_styles(
    stack: LiveStack, agent_key: tuple[str, str], style: str
) -> None:
    key, key_id = agent_key
    with stack.client(key, style=style) as client:
        created = client.post("/debug/session", json={"cluster_id": CLUSTER_ID})
        assert created.status_code == 201, created.text
        session_id = created.json()["session_id"]
        response = client.post(
            "/debug/execute",
            json={
                "cluster_id": CLUSTER_ID,
                "session_id": session_id,
                "command_type": "get",
                "args": ["pods", "-A"],
            },
        )
        assert response.status_code == 200, response.text
        session = client.get(f"/debug/session/{session_id}").json()
    result = response.json()
    assert result["output"] == stack.kubectl("get", "pods", "-A")
    assert result["session_id"] == session_id
    assert session["command_count"] == 1
    assert_audited(stack, result, key_id=key_id, outcome="success")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "ph_0000000000000000_not-the-secret"},
        {"Authorization": "Bearer ph_0000000000000000_not-the-secret"},
        {"Authorization": "Bearer not-a-key-at-all"},
    ],
    ids=["missing", "unknown-x-api-key", "unknown-bearer", "malformed-bearer"],
)
def test_a_missing_or_invalid_key_is_401(stack: LiveStack, headers: dict[str, str]) -> None:
    with stack.anonymous() as client:
        for path, body in (
            ("/debug/session", {"cluster_id": CLUSTER_ID}),
            ("/debug/execute", {"cluster_id": CLUSTER_ID, "command_type": "get", "args": ["pods"]}),
        ):
            response = client.post(path, json=body, headers=headers)
            assert response.status_code == 401, response.text
            assert response.json()["error"] == "unauthorized"
            assert response.json()["details"]["code"] == "UNAUTHORIZED"


def test_a_key_without_the_needed_scope_is_403(stack: LiveStack, agent_key: tuple[str, str]) -> None:
    exec_only, exec_only_id = stack.create_key("exec-only", ["exec"])
    with stack.client(exec_only) as client:
        for path, body in (
            ("/debug/session", {"cluster_id": CLUSTER_ID}),
            ("/debug/execute", {"cluster_id": CLUSTER_ID, "command_type": "get", "args": ["pods"]}),
        ):
            response = client.post(path, json=body)
            assert response.status_code == 403, response.text
            assert response.json()["error"] == "insufficient_scope"
            assert response.json()["details"]["required_scope"] == "read"
    # A read key may not do what only admins may.
    with stack.client(agent_key[0]) as client:
        for path in ("/debug/audit", "/debug/sessions", "/admin/keys"):
            response = client.get(path)
            assert response.status_code == 403, (path, response.text)
            assert response.json()["details"]["required_scope"] == "admin"
    denials = stack.audit(action="auth.denied", principal=exec_only_id)
    assert len(denials) == 2
    assert {event["outcome"] for event in denials} == {"denied"}


def test_a_key_whose_allowlist_excludes_the_cluster_is_403(stack: LiveStack) -> None:
    elsewhere, elsewhere_id = stack.create_key("other-cluster-agent", ["read"], clusters=[IDLE_CLUSTER_ID])
    with stack.client(elsewhere) as client:
        for method, path, body in (
            ("POST", "/debug/session", {"cluster_id": CLUSTER_ID}),
            ("POST", "/debug/execute", {"cluster_id": CLUSTER_ID, "command_type": "get", "args": ["pods"]}),
            (
                "POST",
                "/debug/execute/async",
                {"cluster_id": CLUSTER_ID, "command_type": "get", "args": ["ns"]},
            ),
            ("GET", f"/clusters/{CLUSTER_ID}/status", None),
        ):
            response = client.request(method, path, json=body)
            assert response.status_code == 403, (path, response.text)
            assert response.json()["error"] == "forbidden"
            assert response.json()["details"]["allowed_clusters"] == [IDLE_CLUSTER_ID]
    # Refused before anything was queued: no command ran for this key.
    assert stack.audit(action="command", principal=elsewhere_id) == []
    assert {event["cluster_id"] for event in stack.audit(action="auth.denied", principal=elsewhere_id)} == {
        CLUSTER_ID
    }


# --- kubectl through the tunnel -----------------------------------------------------------------


def test_get_pods_in_all_namespaces_prints_what_kubectl_prints(
    stack: LiveStack, agent_key: tuple[str, str]
) -> None:
    result = execute(stack, agent_key[0], command_type="get", args=["pods", "-A"])
    assert result["output"] == stack.kubectl("get", "pods", "-A")
    assert "CrashLoopBackOff" in result["output"]
    assert "delete-me" in result["output"]
    assert_audited(stack, result, key_id=agent_key[1], outcome="success")


def test_describe_a_crash_looping_pod(stack: LiveStack, agent_key: tuple[str, str]) -> None:
    pod = crashing_pod(stack)
    result = execute(stack, agent_key[0], command_type="describe", args=["pod", pod], namespace="payments")
    direct = stack.kubectl("describe", "pod", pod, "--namespace=payments")
    # Describe computes event ages on kubectl's clock; everything else must be identical.
    assert mask_ages(result["output"]) == mask_ages(direct)
    assert "Back-off restarting failed container" in result["output"]
    assert "Reason:       CrashLoopBackOff" in result["output"]
    assert "Exit Code:    1" in result["output"]
    assert_audited(stack, result, key_id=agent_key[1], outcome="success")


def test_previous_logs_of_a_crash_looping_pod(stack: LiveStack, agent_key: tuple[str, str]) -> None:
    pod = crashing_pod(stack)
    result = execute(stack, agent_key[0], command_type="logs", args=[pod, "--previous"], namespace="payments")
    assert result["output"] == stack.kubectl("logs", pod, "--previous", "--namespace=payments")
    assert "DATABASE_URL is not set" in result["output"]
    assert_audited(stack, result, key_id=agent_key[1], outcome="success")


def test_get_events(stack: LiveStack, agent_key: tuple[str, str]) -> None:
    result = execute(
        stack,
        agent_key[0],
        command_type="get",
        args=["events", "--field-selector", "type=Warning"],
        namespace="payments",
    )
    direct = stack.kubectl("get", "events", "--field-selector", "type=Warning", "--namespace=payments")
    assert result["output"] == direct
    assert "Back-off restarting failed container payments-api" in result["output"]
    assert_audited(stack, result, key_id=agent_key[1], outcome="success")


def test_a_failing_kubectl_command_reports_its_exit_code(
    stack: LiveStack, agent_key: tuple[str, str]
) -> None:
    with stack.client(agent_key[0]) as client:
        response = client.post(
            "/debug/execute",
            json={"cluster_id": CLUSTER_ID, "command_type": "get", "args": ["pod", "no-such-pod"]},
        )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["status"], result["success"], result["exit_code"]) == ("failure", False, 1)
    assert 'pods "no-such-pod" not found' in result["error"]
    assert_audited(stack, result, key_id=agent_key[1], outcome="failure")


def test_async_execute_then_poll_the_operation_and_the_result(
    stack: LiveStack, agent_key: tuple[str, str]
) -> None:
    with stack.client(agent_key[0]) as client:
        accepted = client.post(
            "/debug/execute/async",
            json={
                "cluster_id": CLUSTER_ID,
                "command_type": "get",
                "args": ["deployments", "-o", "wide"],
                "namespace": "payments",
            },
        )
        assert accepted.status_code == 202, accepted.text
        ticket = accepted.json()
        assert ticket["status"] == "pending"
        operation: dict[str, Any] = {}

        def completed() -> bool:
            response = client.get(ticket["poll_url"])
            assert response.status_code == 200, response.text
            operation.update(response.json())
            assert operation["status"] in ("pending", "running", "completed")
            return bool(operation["status"] == "completed")

        wait_until(completed, 60, "the async command to complete")
        result = client.get(ticket["result_url"])
        assert result.status_code == 200, result.text
        unknown = client.get("/debug/operations/op_0123456789abcdef0123456789abcdef")
    direct = stack.kubectl("get", "deployments", "-o", "wide", "--namespace=payments")
    assert operation["result"]["output"] == direct
    assert result.json() == operation["result"]
    assert result.json()["command_id"] == ticket["command_id"] == ticket["result_id"]
    assert unknown.status_code == 404
    assert unknown.json()["details"]["code"] == "OPERATION_NOT_FOUND"
    assert_audited(stack, result.json(), key_id=agent_key[1], outcome="success")


def test_ping_goes_through_the_executor(stack: LiveStack, agent_key: tuple[str, str]) -> None:
    with stack.client(agent_key[0]) as client:
        response = client.post(f"/clusters/{CLUSTER_ID}/ping")
    assert response.status_code == 200, response.text
    ping = response.json()
    assert ping["output"] == "pong"
    assert ping["round_trip_ms"] > 0
    events = [
        event for event in stack.audit(action="cluster.ping") if event["command_id"] == ping["command_id"]
    ]
    assert [(event["key_id"], event["outcome"]) for event in events] == [(agent_key[1], "success")]


# --- policy ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command_type", "args", "policy_code"),
    [
        ("delete", ["pod", "delete-me"], "FORBIDDEN_COMMAND"),
        ("get", ["secrets"], "FORBIDDEN_RESOURCE"),
        ("get", ["secret", "payments-db", "-o", "yaml"], "FORBIDDEN_RESOURCE"),
    ],
    ids=["delete-pod", "get-secrets", "get-secret-yaml"],
)
def test_the_policy_refuses_with_422_command_forbidden(
    stack: LiveStack, agent_key: tuple[str, str], command_type: str, args: list[str], policy_code: str
) -> None:
    with stack.client(agent_key[0]) as client:
        response = client.post(
            "/debug/execute",
            json={
                "cluster_id": CLUSTER_ID,
                "command_type": command_type,
                "args": args,
                "namespace": "payments",
            },
        )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "command_forbidden"
    assert body["details"]["code"] == "COMMAND_FORBIDDEN"
    assert body["details"]["policy_code"] == policy_code
    assert body["details"]["security_mode"] == "readOnly"
    assert body["details"]["cluster_id"] == CLUSTER_ID
    assert body["details"]["reason"]
    denied = [
        event
        for event in stack.audit(action="command.denied", principal=agent_key[1])
        if event["args"] == [command_type, *args]
    ]
    assert denied, "the refusal is not in the audit trail"
    assert denied[0]["outcome"] == "denied"
    assert denied[0]["cluster_id"] == CLUSTER_ID
    assert denied[0]["reason"] == body["details"]["reason"]
    # The cluster still has its Secret and its pod: nothing ran.
    assert "delete-me" in stack.kubectl("get", "pods", "-n", "payments", "-o", "name")


def test_a_pod_named_delete_me_can_be_read(stack: LiveStack, agent_key: tuple[str, str]) -> None:
    result = execute(stack, agent_key[0], command_type="get", args=["pod", "delete-me"], namespace="payments")
    assert result["output"] == stack.kubectl("get", "pod", "delete-me", "--namespace=payments")
    assert result["output"].splitlines()[1].startswith("delete-me ")
    assert_audited(stack, result, key_id=agent_key[1], outcome="success")


# --- no executor ---------------------------------------------------------------------------------


def test_503_when_no_executor_is_connected(stack: LiveStack, agent_key: tuple[str, str]) -> None:
    body = {"cluster_id": IDLE_CLUSTER_ID, "command_type": "get", "args": ["pods"]}
    with stack.client(agent_key[0]) as client:
        responses = [
            client.post("/debug/execute", json=body),
            client.post("/debug/execute/async", json=body),
            client.post(f"/clusters/{IDLE_CLUSTER_ID}/ping"),
        ]
        status = client.get(f"/clusters/{IDLE_CLUSTER_ID}/status").json()
    for response in responses:
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "service_unavailable"
        assert response.json()["details"]["code"] == "AGENT_DISCONNECTED"
    assert (status["status"], status["queue_depth"]) == ("disconnected", 0)
    # Nothing was queued to run later by surprise.
    assert stack.audit(action="command", cluster_id=IDLE_CLUSTER_ID) == []
    assert stack.audit(action="cluster.ping", cluster_id=IDLE_CLUSTER_ID) == []
