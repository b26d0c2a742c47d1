"""`pilothouse demo`: the simulated cluster, the server and an executor, wired through the tunnel.

One process runs the simulated cluster and the API server; the executor runs as a child process
and dials out to the server exactly as it would from inside a real cluster. State lives in
`.pilothouse/demo/` and is recreated at every start, so each demo begins from the scenario.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import shutil
import signal
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from pilothouse.app import create_app
from pilothouse.bootstrap import bootstrap_cluster_access, register_direct_cluster
from pilothouse.observability.logging import configure_logging
from pilothouse.serving import server_options
from pilothouse.settings import load_settings
from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.scenario import install, load_scenario
from pilothouse.sim.serving import SimServer

CLUSTER_ID = "demo"
# The same simulated cluster, Direct and fullAccess: where AI actions are applied.
ADMIN_CLUSTER_ID = "demo-direct"
CONNECT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class DemoAccess:
    url: str
    api_key: str
    cluster_id: str
    kubeconfig: Path
    database_url: str

    def exports(self) -> str:
        return "".join(
            f"export {name}={shlex.quote(value)}\n"
            for name, value in (
                ("PILOTHOUSE_URL", self.url),
                ("PILOTHOUSE_API_KEY", self.api_key),
                ("PILOTHOUSE_CLUSTER", self.cluster_id),
                ("PILOTHOUSE_DATABASE_URL", self.database_url),
                ("KUBECONFIG", str(self.kubeconfig)),
            )
        )

    def curl_examples(self) -> list[str]:
        auth = '-H "X-API-Key: $PILOTHOUSE_API_KEY"'
        execute = f'curl -s {auth} -H "Content-Type: application/json" "$PILOTHOUSE_URL/debug/execute" -d'
        return [
            f'curl -s {auth} "$PILOTHOUSE_URL/clusters/$PILOTHOUSE_CLUSTER/status"',
            f'{execute} \'{{"cluster_id": "{self.cluster_id}", "command_type": "get", '
            f'"args": ["pods", "-A"]}}\'',
            f'{execute} \'{{"cluster_id": "{self.cluster_id}", "command_type": "get", '
            f'"args": ["events", "-n", "shop", "--field-selector", "type=Warning"]}}\'',
            # The Cluster API reaches the same cluster through the executor's streaming tunnel.
            f'curl -s {auth} "$PILOTHOUSE_URL/api/v1/resources/Pod?namespace=shop&sort_by=name"',
        ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _wait_connected(url: str, api_key: str, executor: asyncio.subprocess.Process) -> None:
    deadline = asyncio.get_running_loop().time() + CONNECT_TIMEOUT_SECONDS
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": api_key}, timeout=5) as client:
        while asyncio.get_running_loop().time() < deadline:
            if executor.returncode is not None:
                raise RuntimeError(f"the executor exited with status {executor.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                response = await client.get(f"/clusters/{CLUSTER_ID}/status")
                # Connected for commands (long-poll) and for the Cluster API (streaming tunnel).
                version = await client.get("/api/v1/version", params={"cluster": CLUSTER_ID})
                if (
                    response.status_code == 200
                    and response.json().get("status") == "connected"
                    and version.status_code == 200
                    and "api_version" in version.json().get("kubernetes", {})
                ):
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError("the executor did not connect within 30 s")


async def run_demo(*, port: int, scenario: str, state_dir: Path, seed: int = 0) -> None:
    loaded = load_scenario(scenario)
    _fresh_directory(state_dir)
    configure_logging("WARNING", "console", stream=sys.stderr)

    cluster = SimCluster(seed=seed, data_dir=state_dir / "sim")
    install(cluster, loaded)
    sim = SimServer(
        cluster, port=_free_port(), state_dir=state_dir / "sim", kubeconfig_out=state_dir / "kubeconfig"
    )
    settings = load_settings(
        None,
        database_url=f"sqlite+aiosqlite:///{state_dir / 'pilothouse.db'}",
        host="127.0.0.1",
        port=port,
        log_level="WARNING",
        log_format="console",
        default_cluster=CLUSTER_ID,
    )
    api_key, executor_token = await bootstrap_cluster_access(
        settings,
        CLUSTER_ID,
        security_mode="readOnly",
        cluster_name="Simulated demo cluster",
        key_name="demo-admin",
        actor_name="pilothouse demo",
    )
    url = f"http://127.0.0.1:{port}"

    options = server_options(log_level="warning")
    server = _DemoServer(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, **options))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    await sim.start()
    # The same cluster once more, reached directly and in fullAccess mode, so that AI-proposed
    # actions can be applied (the tunnel cluster stays readOnly for the kubectl policy demo).
    await register_direct_cluster(
        settings,
        ADMIN_CLUSTER_ID,
        kubeconfig=state_dir / "kubeconfig",
        security_mode="fullAccess",
        name="Simulated demo cluster (direct, fullAccess)",
    )
    server_task = asyncio.create_task(server.serve(), name="pilothouse-server")
    executor: asyncio.subprocess.Process | None = None
    try:
        while not server.started:
            if server_task.done():
                server_task.result()
                raise RuntimeError(f"the server did not start on port {port}")
            await asyncio.sleep(0.05)
        assert sim.kubeconfig_path is not None
        executor = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pilothouse.cli.main",
            "executor",
            "--server",
            url,
            "--cluster-id",
            CLUSTER_ID,
            "--token",
            executor_token,
            "--kubeconfig",
            str(sim.kubeconfig_path),
            start_new_session=True,
        )
        await _wait_connected(url, api_key, executor)
        access = DemoAccess(url, api_key, CLUSTER_ID, sim.kubeconfig_path, settings.database_url)
        env_file = state_dir.parent / "demo.env"
        env_file.write_text(access.exports())
        env_file.chmod(0o600)
        _announce(access, loaded.name, loaded.description, env_file)
        await stop.wait()
        print("\nStopping the executor, the server and the simulated cluster...", flush=True)
    finally:
        if executor is not None and executor.returncode is None:
            executor.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(executor.wait(), 15)
            except TimeoutError:
                executor.kill()
                await executor.wait()
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await server_task
        await sim.stop()


class _DemoServer(uvicorn.Server):
    """uvicorn, leaving Ctrl-C to the demo. uvicorn's own handler would shut the server down
    first, with the executor still connected to it, and the demo after it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _fresh_directory(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def _announce(access: DemoAccess, scenario: str, description: str, env_file: Path) -> None:
    lines = [
        "",
        "Pilothouse demo is running.",
        f"  API:        {access.url}   (OpenAPI: {access.url}/docs)",
        f"  Admin key:  {access.api_key}",
        f"  Cluster id: {access.cluster_id}  (simulated, scenario {scenario}: {description})",
        f"  kubectl:    KUBECONFIG={access.kubeconfig} kubectl get pods -A",
        "",
        f"Load the variables with:  source {env_file}",
        "Then try:",
        *(f"  {example}" for example in access.curl_examples()),
        f"The AI core (deterministic analyzers; actions apply to the fullAccess cluster {ADMIN_CLUSTER_ID}):",
        f"  .venv/bin/pilothouse investigate deployment/cache -n shop --cluster {ADMIN_CLUSTER_ID}",
        "  .venv/bin/pilothouse actions approve <action id> --wait 120",
        "",
        "Press Ctrl-C to stop.",
    ]
    print("\n".join(lines), flush=True)
