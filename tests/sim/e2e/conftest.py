"""A simulated cluster served on 127.0.0.1, and the real kubectl pointed at it."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.scenario import DEFAULT_NODES, NodeSpec, add_nodes, install, load_scenario
from pilothouse.sim.serving import SimServer

KUBECTL = str(Path(sys.executable).parent / "kubectl")


@dataclass
class KubectlResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return orjson.loads(self.stdout)


@dataclass
class Sim:
    cluster: SimCluster
    server: SimServer

    async def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> KubectlResult:
        assert self.server.kubeconfig_path is not None
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.server.kubeconfig_path.parent),
            "KUBECONFIG": str(self.server.kubeconfig_path),
        }
        process = await asyncio.create_subprocess_exec(
            KUBECTL,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        out, err = await asyncio.wait_for(process.communicate(stdin.encode() if stdin else None), 60)
        result = KubectlResult(process.returncode or 0, out.decode(), err.decode())
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def advance(self, seconds: float) -> None:
        self.cluster.advance(seconds, step=1.0)


@pytest.fixture
def kubectl_available() -> None:
    if not Path(KUBECTL).exists() and not shutil.which("kubectl"):
        pytest.fail("kubectl is not installed in the virtualenv (make install)")


@pytest.fixture
async def sim(tmp_path: Path, kubectl_available: None) -> AsyncIterator[Sim]:
    """An empty three-node cluster with a manual clock: tests move time with `sim.advance`."""
    cluster = SimCluster(seed=7, manual_clock=True, data_dir=tmp_path / "data")
    add_nodes(cluster, [NodeSpec.from_spec(n) for n in DEFAULT_NODES])
    async with SimServer(cluster, state_dir=tmp_path) as server:
        yield Sim(cluster, server)


async def start_scenario(tmp_path: Path, name: str, **server_options: object) -> tuple[Sim, SimServer]:
    cluster = SimCluster(seed=7, manual_clock=True, data_dir=tmp_path / "data")
    install(cluster, load_scenario(name))
    server = SimServer(cluster, state_dir=tmp_path, **server_options)  # type: ignore[arg-type]
    await server.start()
    return Sim(cluster, server), server
