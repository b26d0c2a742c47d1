"""The Cluster API for real, through both transports.

One simulated cluster (the ``healthy`` scenario) is registered twice: as ``direct`` (the server
holds its kubeconfig) and as ``tunnel`` (a real ``python -m pilothouse.executor`` process dials in
and carries the operations over its WebSocket). Tests taking the ``api`` fixture run once per
transport and must see the same answers. ``readonly`` is a Direct cluster in readOnly mode.

The stack lives for the whole session (one per xdist worker): tests name what they create
uniquely and clean up, so they stay independent.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from pilothouse.app import create_app
from pilothouse.audit.service import Actor
from pilothouse.bootstrap import bootstrap_cluster_access
from pilothouse.clusters.service import ClusterRegistry
from pilothouse.settings import Settings
from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.scenario import combine, install, load_scenario
from pilothouse.sim.serving import SimServer
from pilothouse.store.database import Database
from tests.live import BackgroundLoop, ServedApp, serve

T = TypeVar("T")
TRANSPORTS = ("direct", "tunnel")
READONLY_CLUSTER = "readonly"
CONNECT_TIMEOUT = 60.0
NO_PRACTICAL_LIMITS = {
    "api_requests_per_key_per_minute": 100_000,
    "commands_per_cluster_per_minute": 100_000,
    "sessions_per_key_per_minute": 100_000,
    "cluster_read_per_minute": 100_000,
    "cluster_write_per_minute": 100_000,
}


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class ClusterApiStack:
    def __init__(
        self,
        directory: Path,
        *,
        scenarios: tuple[str, ...] = ("healthy",),
        settle_seconds: float = 90.0,
        with_executor: bool = True,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.directory = directory
        self.scenarios = scenarios
        self.settle_seconds = settle_seconds
        self.with_executor = with_executor
        self.extra_settings = settings or {}
        self.loop = BackgroundLoop("cluster-api-stack")
        self.served: ServedApp | None = None
        self.sim: SimServer | None = None
        self.cluster: SimCluster | None = None
        self.kubeconfig = directory / "kubeconfig"
        self.url = ""
        self.admin_key = ""
        self.executor: subprocess.Popen[bytes] | None = None
        self.executor_log = directory / "executor.log"
        self.app: Any = None

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return self.loop.run(coroutine, timeout)

    def call(self, function: Callable[[], T]) -> T:
        """Run a plain function on the stack's loop (to touch the simulated cluster safely)."""
        return self.loop.call(function)

    def start(self) -> None:
        self.loop.start()
        self.run(self._start())
        if self.with_executor:
            self._start_executor()

    async def _start(self) -> None:
        cluster = SimCluster(seed=11, manual_clock=True, data_dir=self.directory / "sim")
        install(cluster, combine([load_scenario(name) for name in self.scenarios]))
        cluster.advance(self.settle_seconds, step=1.0)
        self.cluster = cluster
        self.sim = SimServer(cluster, state_dir=self.directory / "sim", kubeconfig_out=self.kubeconfig)
        await self.sim.start()
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{self.directory / 'pilothouse.db'}",
            host="127.0.0.1",
            port=0,
            log_level="WARNING",
            log_format="console",
            default_cluster="direct",
            # Small, so that the slow-consumer test fills it quickly.
            watch_queue_messages=16,
            rate_limits=NO_PRACTICAL_LIMITS,
            insight_scans=False,
            **self.extra_settings,
        )
        access = await bootstrap_cluster_access(
            settings, "tunnel", security_mode="fullAccess", key_name="cluster-api-admin", actor_name="tests"
        )
        self.admin_key, self.executor_token = access
        database = Database(settings.database_url)
        await database.connect()
        try:
            registry = ClusterRegistry(database, settings)
            async with database.session() as session:
                for cluster_id, mode in (("direct", "fullAccess"), (READONLY_CLUSTER, "readOnly")):
                    await registry.add_direct(
                        session,
                        cluster_id,
                        actor=Actor(key_id=None, name="tests"),
                        kubeconfig_path=str(self.kubeconfig),
                        security_mode=mode,
                    )
        finally:
            await database.dispose()
        self.app = create_app(settings)
        self.served = await serve(self.app)
        self.url = self.served.url

    def _start_executor(self) -> None:
        log = self.executor_log.open("wb")
        self.executor = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pilothouse.executor",
                "--server",
                self.url,
                "--cluster-id",
                "tunnel",
                "--kubeconfig",
                str(self.kubeconfig),
                "--security-mode",
                "fullAccess",
                "--poll-wait",
                "5",
                "--log-format",
                "json",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={
                "PATH": os.environ.get("PATH", ""),
                "HOME": str(self.directory),
                "PILOTHOUSE_EXECUTOR_TOKEN": self.executor_token,
            },
            start_new_session=True,
        )
        hub = self.app.state.tunnel_hub

        def connected() -> bool:
            assert self.executor is not None
            if self.executor.poll() is not None:
                raise AssertionError(f"the executor exited:\n{self.executor_log.read_text()}")
            return hub.pick("tunnel") is not None

        wait_until(connected, CONNECT_TIMEOUT, "the executor's tunnel")

    def stop(self) -> None:
        if self.executor is not None and self.executor.poll() is None:
            self.executor.terminate()
            try:
                self.executor.wait(15)
            except subprocess.TimeoutExpired:
                self.executor.kill()
        self.loop.shutdown(self.served, self.sim)

    # --- clients -----------------------------------------------------------------------------

    def client(self, cluster: str | None = None, *, key: str | None = None, **headers: str) -> httpx.Client:
        all_headers = {"X-API-Key": key or self.admin_key, **headers}
        if cluster is not None:
            all_headers["X-Kubeconfig-Context"] = cluster
        return httpx.Client(base_url=self.url, headers=all_headers, timeout=60)

    def ws_url(self, path: str) -> str:
        return "ws://" + self.url.removeprefix("http://") + path

    def create_key(self, name: str, scopes: list[str], clusters: list[str] | None = None) -> str:
        body: dict[str, Any] = {"name": name, "scopes": scopes}
        if clusters is not None:
            body["clusters"] = clusters
        with self.client() as client:
            response = client.post("/admin/keys", json=body)
        assert response.status_code == 201, response.text
        key: str = response.json()["key"]
        return key

    def advance(self, seconds: float) -> None:
        """Move the simulated cluster's clock (controllers and kubelet act on it)."""
        assert self.cluster is not None
        cluster = self.cluster
        self.call(lambda: cluster.advance(seconds, step=1.0))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterApiStack]:
    live = ClusterApiStack(tmp_path_factory.mktemp("cluster-api"))
    try:
        live.start()
        yield live
    finally:
        with contextlib.suppress(Exception):
            live.stop()


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def api(stack: ClusterApiStack, transport: str) -> Iterator[httpx.Client]:
    """An admin client whose requests select the transport's cluster."""
    with stack.client(transport) as client:
        yield client
