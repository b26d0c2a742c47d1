"""The whole system, for real: a simulated cluster, the API server on uvicorn, the executor process.

Nothing is doubled. A :class:`LiveStack` runs the simulated cluster (``SimServer``) and the API
server (``create_app`` on a real uvicorn on 127.0.0.1, SQLite in the test's directory) on an event
loop in a background thread, so that they keep serving while a test blocks on an HTTP call or on a
process. Executors are real ``python -m pilothouse.executor`` processes pointed at the simulated
cluster's kubeconfig; tests start, kill and stop them as an operator would.

Tests are plain functions speaking HTTP through ``httpx.Client``, the way an agent does.
The simulated cluster runs on a manual clock, moved once at start, so kubectl prints the same
tables (server-side AGE columns included) through the API and directly; only the ages kubectl
computes on its own clock (describe's events) need ``mask_ages``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from pilothouse.app import create_app
from pilothouse.bootstrap import bootstrap_cluster_access, register_clusters
from pilothouse.settings import Settings
from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.scenario import install, load_scenario
from pilothouse.sim.serving import SimServer
from tests.live import BackgroundLoop, ServedApp, serve

KUBECTL = str(Path(sys.executable).parent / "kubectl")
CLUSTER_ID = "e2e"
# Registered, but no executor ever serves it.
IDLE_CLUSTER_ID = "e2e-idle"
# Generous bounds on waiting for something that must happen; never a measure of speed.
CONNECT_TIMEOUT = 60.0
SETTLE_TIMEOUT = 60.0
# Limits high enough that only the rate-limit tests meet them.
NO_PRACTICAL_LIMITS = {
    "api_requests_per_key_per_minute": 100_000,
    "commands_per_cluster_per_minute": 100_000,
    "sessions_per_key_per_minute": 100_000,
}

T = TypeVar("T")


class OffsetClock:
    """The server's wall clock: real time plus an offset a test can move forward (session expiry)
    without sleeping. Read from the server's thread, moved from the test's: one attribute store."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def jump(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class StackOptions:
    scenario: str = "crashloop-missing-env"
    # Simulated seconds to let pass before serving (the crash loop needs about two minutes).
    advance_seconds: float = 150.0
    manifests: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


# kubectl's short durations (5s, 2m30s, 3h, 4d5h) and its word for a time in the future.
_AGE = re.compile(r"(?<![\w.-])(?:\d+[smhdy])+(?![\w.-])|<invalid>")


def mask_ages(text: str) -> str:
    """``text`` with the ages kubectl computes from its own clock replaced, and the padding that
    depends on their width collapsed: for comparing two runs a few seconds apart."""
    return "\n".join(re.sub(r" {2,}", "  ", _AGE.sub("<age>", line)).rstrip() for line in text.splitlines())


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Wait for a condition that must come true; fail naming it if it does not within ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class ExecutorProcess:
    """One ``python -m pilothouse.executor`` process; its JSON log goes to a file."""

    def __init__(self, stack: LiveStack, index: int, *, poll_wait: int, concurrency: int) -> None:
        self.log_path = stack.directory / f"executor-{index}.log"
        self._log = self.log_path.open("wb")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(stack.directory),
            # The token in the environment, not in argv where ps shows it.
            "PILOTHOUSE_EXECUTOR_TOKEN": stack.executor_token,
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pilothouse.executor",
                "--server",
                stack.url,
                "--cluster-id",
                CLUSTER_ID,
                "--kubeconfig",
                str(stack.kubeconfig),
                "--poll-wait",
                str(poll_wait),
                "--concurrency",
                str(concurrency),
                "--log-format",
                "json",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                events.append(json.loads(line))
        return events

    @property
    def executor_id(self) -> str:
        for event in self.log_events():
            if event.get("event") == "executor.configured":
                return str(event["executor_id"])
        raise AssertionError(f"the executor has not logged its id yet:\n{self.log_path.read_text()}")

    def children(self) -> list[int]:
        """Processes this executor started (its kubectl runs, each in its own session)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == self.pid:
                found.append(int(entry.name))
        return found

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would; then end the kubectl it leaves behind."""
        orphans = self.children()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class LiveStack:
    """Simulated cluster + API server on a background event loop; executors as processes."""

    def __init__(self, directory: Path, options: StackOptions) -> None:
        self.directory = directory
        self.options = options
        self.clock = OffsetClock()
        self.executors: list[ExecutorProcess] = []
        self.loop = BackgroundLoop("e2e-stack")
        self.served: ServedApp | None = None
        self.sim: SimServer | None = None
        self.cluster: SimCluster | None = None
        self.url = ""
        self.admin_key = ""
        self.executor_token = ""
        self.kubeconfig = directory / "kubeconfig"

    # --- lifecycle ---------------------------------------------------------------------------

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        """Run a coroutine on the stack's loop and wait for its result."""
        return self.loop.run(coroutine, timeout)

    def start(self) -> None:
        self.loop.start()
        self.run(self._start())

    async def _start(self) -> None:
        # Started in the past so that, once advanced, simulated time is about the real time: kubectl
        # computes some ages itself (describe's events) and prints <invalid> for future ones.
        cluster = SimCluster(
            seed=7,
            manual_clock=True,
            start_time=time.time() - self.options.advance_seconds,
            data_dir=self.directory / "sim",
        )
        install(cluster, load_scenario(self.options.scenario))
        if self.options.manifests:
            cluster.apply(*self.options.manifests)
        cluster.advance(self.options.advance_seconds, step=1.0)
        self.cluster = cluster
        self.sim = SimServer(cluster, state_dir=self.directory / "sim", kubeconfig_out=self.kubeconfig)
        await self.sim.start()

        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{self.directory / 'pilothouse.db'}",
            host="127.0.0.1",
            port=0,
            log_level="WARNING",
            log_format="console",
            **{"rate_limits": NO_PRACTICAL_LIMITS, **self.options.settings},
        )
        access = await bootstrap_cluster_access(
            settings, CLUSTER_ID, security_mode="readOnly", key_name="e2e-admin", actor_name="e2e tests"
        )
        await register_clusters(settings, [IDLE_CLUSTER_ID], security_mode="readOnly")
        self.admin_key, self.executor_token = access

        app = create_app(settings)
        app.state.clock = self.clock
        self.served = await serve(app)
        self.url = self.served.url

    def stop(self) -> None:
        for executor in self.executors:
            executor.close()
        self.loop.shutdown(self.served, self.sim)

    # --- executors ---------------------------------------------------------------------------

    def start_executor(
        self, *, poll_wait: int = 5, concurrency: int = 4, wait: bool = True
    ) -> ExecutorProcess:
        executor = ExecutorProcess(self, len(self.executors), poll_wait=poll_wait, concurrency=concurrency)
        self.executors.append(executor)
        if wait:
            self.wait_for_executor(executor)
        return executor

    def wait_for_executor(self, executor: ExecutorProcess) -> None:
        """Until the server lists this executor as connected and has the cluster's discovery
        (before that the executor's own policy refuses every command)."""

        def ready() -> bool:
            if executor.process.poll() is not None:
                log = executor.log_path.read_text()
                raise AssertionError(f"the executor exited with {executor.process.returncode}:\n{log}")
            if not any(event.get("event") == "executor.configured" for event in executor.log_events()):
                return False
            status = self.status()
            mine = [item for item in status["executors"] if item["executor_id"] == executor.executor_id]
            return bool(status["connected"] and mine and mine[0]["connected"] and status["discovery"])

        wait_until(ready, CONNECT_TIMEOUT, "the executor to connect")

    # --- clients -----------------------------------------------------------------------------

    def client(self, key: str | None = None, *, style: str = "x-api-key") -> httpx.Client:
        key = self.admin_key if key is None else key
        headers = {"Authorization": f"Bearer {key}"} if style == "bearer" else {"X-API-Key": key}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def anonymous(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)

    def status(self, cluster_id: str = CLUSTER_ID) -> dict[str, Any]:
        with self.client() as client:
            response = client.get(f"/clusters/{cluster_id}/status")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def create_key(self, name: str, scopes: list[str], clusters: list[str] | None = None) -> tuple[str, str]:
        """A new API key through the admin API: (key, key id)."""
        body: dict[str, Any] = {"name": name, "scopes": scopes}
        if clusters is not None:
            body["clusters"] = clusters
        with self.client() as client:
            response = client.post("/admin/keys", json=body)
        assert response.status_code == 201, response.text
        created = response.json()
        return created["key"], created["key_id"]

    def audit(self, **params: Any) -> list[dict[str, Any]]:
        with self.client() as client:
            response = client.get("/debug/audit", params={"limit": 1000, **params})
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    def kubectl(self, *args: str) -> str:
        """kubectl run directly against the simulated cluster, as a person at a terminal would."""
        completed = subprocess.run(
            [KUBECTL, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={
                "PATH": os.environ.get("PATH", ""),
                "HOME": str(self.directory),
                "KUBECONFIG": str(self.kubeconfig),
                "KUBECTL_KUBERC": "false",
            },
        )
        assert completed.returncode == 0, completed.stderr
        return completed.stdout


@pytest.fixture(scope="module")
def stack_options() -> StackOptions:
    """Overridden by a test module that needs another scenario or other settings."""
    return StackOptions()


@pytest.fixture(scope="module")
def stack(stack_options: StackOptions, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """A running stack with no executor; modules add theirs (see ``executor``)."""
    live = LiveStack(tmp_path_factory.mktemp("e2e"), stack_options)
    try:
        live.start()
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def executor(stack: LiveStack) -> ExecutorProcess:
    """One executor serving the module's cluster for all its tests."""
    return stack.start_executor()


def audit_of_command(stack: LiveStack, command_id: str) -> list[dict[str, Any]]:
    """The audit events of one command (its execution, once it is final)."""
    return [event for event in stack.audit(action="command") if event["command_id"] == command_id]


def assert_audited(
    stack: LiveStack, result: dict[str, Any], *, key_id: str, outcome: str, cluster_id: str = CLUSTER_ID
) -> dict[str, Any]:
    """Exactly one ``command.execute`` event for the command of ``result``, naming who ran what
    where and how it ended; the event is returned for further checks."""
    events = audit_of_command(stack, result["command_id"])
    assert len(events) == 1, events
    event = events[0]
    assert event["action"] == "command.execute"
    assert event["key_id"] == key_id
    assert event["cluster_id"] == cluster_id
    assert event["args"] == result["args"]
    assert event["outcome"] == outcome
    assert event["session_id"] == result["session_id"]
    return event


def wait_final(client: httpx.Client, command_id: str, timeout: float = SETTLE_TIMEOUT) -> dict[str, Any]:
    """The result of a command once it is final (success, failure or timeout)."""
    outcome: dict[str, Any] = {}

    def final() -> bool:
        response = client.get(f"/debug/result/{command_id}")
        assert response.status_code == 200, response.text
        outcome.update(response.json())
        return outcome["status"] not in ("pending", "running")

    wait_until(final, timeout, f"command {command_id} to finish", interval=0.2)
    return outcome
