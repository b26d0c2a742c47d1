"""Pod logs and exec through both transports."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from tests.cluster_api.conftest import ClusterApiStack


def running_pod(api: httpx.Client) -> dict[str, Any]:
    pods = api.get(
        "/api/v1/resources/Pod", params={"field_selector": "status.phase=Running", "limit": 500}
    ).json()
    return next(pod for pod in pods["items"] if len(pod["spec"]["containers"]) == 1)


def where(pod: dict[str, Any]) -> str:
    return f"/api/v1/pods/{pod['metadata']['namespace']}/{pod['metadata']['name']}"


def test_logs_tail_timestamps_and_search(api: httpx.Client) -> None:
    pod = running_pod(api)
    response = api.get(f"{where(pod)}/logs", params={"tail_lines": 3})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert 0 < len(lines) <= 3
    # Timestamps are on by default (the spec's default), RFC 3339 first on each line.
    assert all(line[:4].isdigit() and "T" in line.split(" ", 1)[0] for line in lines)

    bare = api.get(f"{where(pod)}/logs", params={"tail_lines": 3, "timestamps": "false"}).text.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == bare

    everything = api.get(f"{where(pod)}/logs", params={"tail_lines": 10000, "timestamps": "false"}).text
    word = everything.split()[0]
    found = api.get(
        f"{where(pod)}/logs", params={"search": word.upper(), "tail_lines": 10000, "timestamps": "false"}
    )
    assert found.text.splitlines() == [
        line for line in everything.splitlines() if word.lower() in line.lower()
    ]
    assert api.get(f"{where(pod)}/logs", params={"search": "no-such-text-anywhere"}).text == ""


def test_logs_until_time_cuts_the_end(api: httpx.Client) -> None:
    pod = running_pod(api)
    lines = api.get(f"{where(pod)}/logs", params={"tail_lines": 10000}).text.splitlines()
    assert len(lines) >= 2
    middle = lines[len(lines) // 2].split(" ", 1)[0]
    until = api.get(
        f"{where(pod)}/logs", params={"tail_lines": 10000, "until_time": middle}
    ).text.splitlines()
    assert until and all(line.split(" ", 1)[0] <= middle for line in until)
    assert len(until) < len(lines)


def test_logs_of_a_missing_pod(api: httpx.Client) -> None:
    response = api.get("/api/v1/pods/default/no-such-pod/logs")
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "pod_not_found"
    assert body["namespace"] == "default"
    assert body["pod_name"] == "no-such-pod"


def test_logs_follow_streams_new_lines(api: httpx.Client, stack: ClusterApiStack) -> None:
    pod = running_pod(api)
    received: list[str] = []
    done = threading.Event()

    def read() -> None:
        with api.stream("GET", f"{where(pod)}/logs", params={"follow": "true", "tail_lines": 1}) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                received.append(line)
                if len(received) >= 3:
                    break
        done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # The first line is the tail; later ones only appear as the simulated clock moves on.
    for _ in range(120):
        if done.wait(0.25):
            break
        stack.advance(5)
    assert done.is_set(), f"only {received} arrived"
    assert len(received) == 3


def test_exec_exit_codes_and_streams(api: httpx.Client) -> None:
    pod = running_pod(api)
    ok = api.post(f"{where(pod)}/exec", json={"command": ["sh", "-c", "echo out; echo err >&2"]})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["exit_code"] == 0
    assert body["stdout"] == "out\n"
    assert body["stderr"] == "err\n"
    assert body["pod"] == pod["metadata"]["name"]
    assert body["container"] == pod["spec"]["containers"][0]["name"]
    assert body["execution_time_ms"] >= 0

    failing = api.post(f"{where(pod)}/exec", json={"command": ["sh", "-c", "exit 3"]})
    assert failing.status_code == 200
    assert failing.json()["exit_code"] == 3

    missing = api.post(f"{where(pod)}/exec", json={"command": ["sh", "-c", "no-such-command-here"]})
    assert missing.status_code == 500
    assert missing.json()["error"] == "exec_failed"
    assert missing.json()["exit_code"] == 127
    assert "not found" in missing.json()["stderr"]


def test_exec_working_dir_and_environment(api: httpx.Client) -> None:
    pod = running_pod(api)
    response = api.post(
        f"{where(pod)}/exec",
        json={
            "command": ["sh", "-c", 'echo "$(pwd) $GREETING"'],
            "working_dir": "/tmp",
            "environment": {"GREETING": "hi"},
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["stdout"] == "/tmp hi\n"
    bad = api.post(f"{where(pod)}/exec", json={"command": ["true"], "environment": {"BAD NAME": "x"}})
    assert bad.status_code == 400


def test_exec_timeout(api: httpx.Client) -> None:
    pod = running_pod(api)
    response = api.post(
        f"{where(pod)}/exec", params={"timeout_seconds": 1}, json={"command": ["sleep", "10"]}
    )
    assert response.status_code == 408, response.text
    assert response.json()["error"] == "timeout"


def test_exec_is_serialised_per_pod(api: httpx.Client, stack: ClusterApiStack) -> None:
    pod = running_pod(api)
    results: list[dict[str, Any]] = []

    def run() -> None:
        with stack.client(api.headers["X-Kubeconfig-Context"]) as client:
            response = client.post(
                f"{where(pod)}/exec",
                json={"command": ["sh", "-c", "date +%s.%N; sleep 0.5; date +%s.%N"]},
            )
            results.append(response.json())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    spans = sorted(tuple(float(x) for x in result["stdout"].split()) for result in results)
    assert len(spans) == 2
    # The second command started after the first ended: they did not overlap.
    assert spans[1][0] >= spans[0][1]


def test_exec_needs_a_container_for_multi_container_pods(api: httpx.Client, stack: ClusterApiStack) -> None:
    name = f"two-{api.headers['X-Kubeconfig-Context']}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "containers": [{"name": "app", "image": "nginx:1.27"}, {"name": "sidecar", "image": "nginx:1.27"}]
        },
    }
    api.delete(f"/api/v1/resources/Pod/default/{name}", params={"force": "true"})
    assert api.post("/api/v1/resources/Pod", json=pod).status_code == 201
    stack.advance(30)
    try:
        response = api.post(f"/api/v1/pods/default/{name}/exec", json={"command": ["true"]})
        assert response.status_code == 400
        assert response.json()["details"]["containers"] == ["app", "sidecar"]
        chosen = api.post(
            f"/api/v1/pods/default/{name}/exec", params={"container": "sidecar"}, json={"command": ["true"]}
        )
        assert chosen.status_code == 200, chosen.text
        assert chosen.json()["container"] == "sidecar"
        logs = api.get(f"/api/v1/pods/default/{name}/logs")
        assert logs.status_code == 400
    finally:
        api.delete(f"/api/v1/resources/Pod/default/{name}", params={"force": "true"})


@pytest.mark.parametrize("scopes", [["read"], ["read", "write"]])
def test_exec_needs_the_exec_scope(stack: ClusterApiStack, scopes: list[str]) -> None:
    key = stack.create_key("no-exec", scopes)
    with stack.client("direct", key=key) as client:
        response = client.post("/api/v1/pods/default/any/exec", json={"command": ["true"]})
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_readonly_cluster_refuses_exec(stack: ClusterApiStack) -> None:
    with stack.client("readonly") as client:
        pod = running_pod(client)
        response = client.post(f"{where(pod)}/exec", json={"command": ["true"]})
    assert response.status_code == 403
    assert "fullAccess" in response.json()["message"]
