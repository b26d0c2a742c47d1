"""Executors against the protocol double (a real uvicorn on 127.0.0.1) and a simulated cluster
served to the real kubectl."""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pilothouse.executor.config import ExecutorConfig
from pilothouse.executor.service import run_executor
from pilothouse.executor.testing import ProtocolDouble
from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.scenario import Scenario, install
from pilothouse.sim.serving import SimServer

KUBECTL = str(Path(sys.executable).parent / "kubectl")
PILOTHOUSE = str(Path(sys.executable).parent / "pilothouse")
SECRET_VALUE = "hunter2-do-not-leak"

SCENARIO = {
    "name": "executor",
    "nodes": [{"name": "node-1"}, {"name": "node-2"}],
    "registry": {"images": ["shop/api:1.0"]},
    "manifests": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db", "namespace": "shop"},
            "data": {"password": base64.b64encode(SECRET_VALUE.encode()).decode()},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "api", "namespace": "shop", "labels": {"app": "api"}},
            "spec": {"containers": [{"name": "api", "image": "shop/api:1.0"}]},
        },
    ],
    "behaviours": [
        {
            "match": {"namespace": "shop", "labels": {"app": "api"}},
            "logs": {"start": ["INFO starting shop-api", "INFO listening on :8080"]},
        }
    ],
}


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kubectl caches discovery under HOME; keep it out of the developer's home directory."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    for name in list(os.environ):
        if name.startswith("PILOTHOUSE_EXECUTOR_"):
            monkeypatch.delenv(name)


@pytest.fixture
def double() -> ProtocolDouble:
    return ProtocolDouble()


@pytest.fixture
async def server_url(double: ProtocolDouble) -> AsyncIterator[str]:
    async with double.serve() as url:
        yield url


@pytest.fixture
async def sim_cluster(tmp_path: Path) -> AsyncIterator[SimServer]:
    """A two-node cluster with namespace shop, a running pod ``api`` that logs, and Secret ``db``."""
    if not Path(KUBECTL).exists():
        pytest.fail("kubectl is not installed in the virtualenv (make install)")
    cluster = SimCluster(seed=7, manual_clock=True, data_dir=tmp_path / "sim-data")
    install(cluster, Scenario.from_document(SCENARIO))
    async with SimServer(cluster, state_dir=tmp_path / "sim") as server:
        cluster.advance(10, step=1.0)
        yield server


@pytest.fixture
def kubeconfig(sim_cluster: SimServer) -> Path:
    assert sim_cluster.kubeconfig_path is not None
    return sim_cluster.kubeconfig_path


ConfigFactory = Callable[..., ExecutorConfig]


@pytest.fixture
def make_config(double: ProtocolDouble, server_url: str) -> ConfigFactory:
    def make(**overrides: Any) -> ExecutorConfig:
        options: dict[str, Any] = {
            "server_url": server_url,
            "cluster_id": double.cluster_id,
            "token": double.token,
            "kubectl": KUBECTL,
            "poll_wait_seconds": 5,
            **overrides,
        }
        return ExecutorConfig(**options)

    return make


@dataclass
class RunningExecutor:
    task: asyncio.Task[int]
    stop: asyncio.Event

    async def finish(self, timeout: float = 30.0) -> int:
        self.stop.set()
        return await asyncio.wait_for(self.task, timeout)


@asynccontextmanager
async def running(config: ExecutorConfig) -> AsyncIterator[RunningExecutor]:
    """``run_executor`` in this event loop; stopped (and its commands drained) on leaving."""
    stop = asyncio.Event()
    executor = RunningExecutor(asyncio.create_task(run_executor(config, stop)), stop)
    try:
        yield executor
    finally:
        if not executor.task.done():
            await executor.finish()


def executor_environment(home: Path) -> dict[str, str]:
    """For an executor subprocess: this environment without settings that would leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PILOTHOUSE_", "KUBECONFIG"))}
    env["HOME"] = str(home)
    return env
