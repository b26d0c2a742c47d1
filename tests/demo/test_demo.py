"""`pilothouse demo`, the README's first command, as a newcomer runs it."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _exports(env_file: Path) -> dict[str, str]:
    values = {}
    for line in env_file.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        values[name] = shlex.split(value)[0]
    return values


def test_demo_serves_the_simulated_cluster_through_the_executor_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    state = tmp_path / ".pilothouse" / "demo"
    process = subprocess.Popen(
        [sys.executable, "-m", "pilothouse.cli.main", "demo", "--port", str(port), "--state-dir", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Press Ctrl-C to stop." in line:
                break
        text = "".join(output)
        assert "Press Ctrl-C to stop." in text, text
        key = re.search(r"Admin key:\s+(\S+)", text)
        assert key is not None
        assert text.count("curl -s") == 4

        exports = _exports(tmp_path / ".pilothouse" / "demo.env")
        assert exports["PILOTHOUSE_URL"] == f"http://127.0.0.1:{port}"
        assert exports["PILOTHOUSE_API_KEY"] == key[1]
        assert Path(exports["KUBECONFIG"]).exists()

        headers = {"X-API-Key": exports["PILOTHOUSE_API_KEY"]}
        with httpx.Client(base_url=exports["PILOTHOUSE_URL"], headers=headers, timeout=30) as client:
            status = client.get(f"/clusters/{exports['PILOTHOUSE_CLUSTER']}/status").json()
            assert status["status"] == "connected"
            pods = client.post(
                "/debug/execute", json={"cluster_id": "demo", "command_type": "get", "args": ["pods", "-A"]}
            )
            assert pods.status_code == 200, pods.text
            assert "shop" in pods.json()["output"]
            secrets = client.post(
                "/debug/execute",
                json={"cluster_id": "demo", "command_type": "get", "args": ["secrets", "-A"]},
            )
            assert secrets.status_code == 422
            assert secrets.json()["details"]["code"] == "COMMAND_FORBIDDEN"
            listed = client.get("/api/v1/resources/Pod", params={"namespace": "shop"})
            assert listed.status_code == 200, listed.text
            assert listed.json()["total_count"] > 0
            _oom_loop(client)
    finally:
        # Twice, as an impatient user (or a terminal signalling the process group) does.
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGINT)
        try:
            remaining, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            remaining, _ = process.communicate()
    assert process.returncode == 0, "".join(output) + (remaining or "")
    assert "Stopping" in (remaining or "")
    # Cleanly: nothing was cut short (uvicorn's own Ctrl-C handler used to take the second one for
    # a forced exit and leave the app's lifespan to be cancelled, with a traceback).
    assert "Traceback" not in (remaining or ""), remaining


def _oom_loop(client: httpx.Client) -> None:
    """Issue 5's demo: once the cache has been OOMKilled (about a minute after start, in real
    time), an investigation proposes more memory; approving it heals the pods, verified."""
    fast = {"investigation_settings": {"verification_stable_seconds": 3}}
    assert client.put("/api/v1/ai/config", json=fast).status_code == 200
    target = {"resource_kind": "Deployment", "namespace": "shop", "resource_name": "cache"}
    headers = {"X-Kubeconfig-Context": "demo-direct"}
    deadline = time.monotonic() + 180
    action: dict[str, object] | None = None
    while action is None and time.monotonic() < deadline:
        started = client.post("/api/v1/ai/investigate", json=target, headers=headers)
        assert started.status_code == 202, started.text
        investigation = started.json()
        while investigation["status"] == "in_progress":
            time.sleep(0.2)
            investigation = client.get(
                f"/api/v1/ai/investigations/{investigation['investigation_id']}"
            ).json()
        if investigation["top_cause"] == "oom-killed":
            action = next(item for item in investigation["actions"] if item["action_type"] == "set_resources")
        else:
            time.sleep(5)
    assert action is not None, "the cache was never OOMKilled"
    approved = client.post(f"/api/v1/ai/actions/{action['action_id']}/approve")
    assert approved.status_code == 200, approved.text
    while time.monotonic() < deadline:
        state = client.get(f"/api/v1/ai/actions/{action['action_id']}").json()
        if state["status"] in ("verified", "failed"):
            break
        time.sleep(1)
    assert state["status"] == "verified", state["history"]
