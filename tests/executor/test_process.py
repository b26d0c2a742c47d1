"""`pilothouse executor` as a process: configured from the environment, drained by SIGTERM, killed
with SIGKILL (the command comes back after its lease), and ended by a wrong token."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pilothouse.executor.agent import EXIT_UNAUTHORIZED
from pilothouse.executor.testing import ProtocolDouble
from tests.executor.conftest import KUBECTL, PILOTHOUSE, executor_environment

# Ends by itself after 3 s (a watch with a request timeout), so it is "running" for a while.
SLOW = ["get", "pods", "-A", "-w", "--request-timeout=3s"]


# The console script imports the server's stack too and starts slowly; `-m` starts the same command.
MODULE = (sys.executable, "-m", "pilothouse.executor")
CONSOLE_SCRIPT = (PILOTHOUSE, "executor")


@asynccontextmanager
async def executor_process(
    tmp_path: Path,
    url: str,
    double: ProtocolDouble,
    *,
    kubeconfig: Path,
    token: str | None = None,
    command: tuple[str, ...] = MODULE,
) -> AsyncIterator[asyncio.subprocess.Process]:
    env = executor_environment(tmp_path)
    env.update(
        {
            "PILOTHOUSE_EXECUTOR_SERVER": url,
            "PILOTHOUSE_EXECUTOR_CLUSTER_ID": double.cluster_id,
            "PILOTHOUSE_EXECUTOR_TOKEN": token or double.token,
            "PILOTHOUSE_EXECUTOR_KUBECONFIG": str(kubeconfig),
            "PILOTHOUSE_EXECUTOR_KUBECTL": KUBECTL,
            "PILOTHOUSE_EXECUTOR_POLL_WAIT": "5",
        }
    )
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def until(condition: object, seconds: float = 15.0) -> None:
    assert callable(condition)
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.02)


def log_events(output: bytes) -> list[str]:
    events = []
    for line in output.decode().splitlines():
        try:
            events.append(json.loads(line)["event"])
        except (ValueError, KeyError):
            continue
    return events


async def test_sigterm_drains_the_running_command_posts_its_result_and_exits_0(
    tmp_path: Path, double: ProtocolDouble, server_url: str, kubeconfig: Path
) -> None:
    async with executor_process(tmp_path, server_url, double, kubeconfig=kubeconfig) as process:
        command_id = double.enqueue(SLOW, timeout=20)
        await until(lambda: double.commands[command_id].deliveries)
        await asyncio.sleep(0.5)  # kubectl is running
        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        late = double.enqueue(kind="ping")  # must not be taken by a stopping executor
        output, _ = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, output.decode()
    result = double.commands[command_id].result
    assert result is not None
    assert result["success"], result
    assert result["execution_time_ms"] >= 2500  # it ran to its natural end, not cut short
    assert double.commands[late].deliveries == []
    events = log_events(output)
    assert (
        events.index("executor.signal")
        < events.index("executor.command.done")
        < events.index("executor.stopped")
    )


async def test_sigkill_mid_command_and_a_new_executor_completes_it_once(
    tmp_path: Path, kubeconfig: Path
) -> None:
    double = ProtocolDouble(lease_seconds=4.0)
    async with double.serve() as url:
        async with executor_process(tmp_path, url, double, kubeconfig=kubeconfig) as first:
            command_id = double.enqueue(SLOW, timeout=20)
            await until(lambda: double.commands[command_id].deliveries)
            await asyncio.sleep(0.5)
            first.kill()
            await first.wait()
        assert double.commands[command_id].result is None
        async with executor_process(tmp_path, url, double, kubeconfig=kubeconfig) as second:
            result = await double.wait_result(command_id, seconds=20)
            second.send_signal(signal.SIGTERM)
            await asyncio.wait_for(second.communicate(), 20)
    command = double.commands[command_id]
    assert result["success"], result
    assert len(command.deliveries) == 2
    assert command.deliveries[0] != command.deliveries[1]  # the second executor took it over
    assert double.result_posts == [(command_id, command.deliveries[1])]  # completed once


async def test_a_refused_token_ends_the_process_with_a_distinct_code(
    tmp_path: Path, double: ProtocolDouble, server_url: str, kubeconfig: Path
) -> None:
    async with executor_process(
        tmp_path, server_url, double, kubeconfig=kubeconfig, token="stolen", command=CONSOLE_SCRIPT
    ) as process:
        output, _ = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == EXIT_UNAUTHORIZED
    assert log_events(output).count("executor.unauthorized") == 3
    assert "stolen" not in output.decode()  # the token is never logged


async def test_a_bad_configuration_is_a_usage_error(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        *MODULE,
        "--server",
        "ftp://example",
        "--cluster-id",
        "c",
        "--token",
        "t",
        env=executor_environment(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert "server URL must be http(s)://host[:port]" in output.decode()
