"""Round trip of the executor loop: from a command becoming available to its result arriving.

    .venv/bin/python bench/executor_roundtrip.py [--pings 1000] [--concurrency 4]

The real executor (``run_executor``, as ``pilothouse executor`` runs it) serves the protocol double
from ``pilothouse.executor.testing`` over HTTP/1.1 on 127.0.0.1, with a simulated cluster behind
kubectl so that discovery succeeds once and then stays quiet. ``ping`` commands spawn nothing, so
what is measured is the loop itself: long-poll wake-up, parsing, dispatch, the result POST.

It also times spawning ``/bin/true`` from the executor process with the runner's ``preexec_fn``
(which sets PR_SET_PDEATHSIG in the child and so forces fork() instead of vfork()) and without it:
the difference is paid by every kubectl command.

A ping costs two HTTP exchanges (the poll's answer, the result POST). For scale the script also
times one bare exchange (``GET /agent/status`` through the executor's own client). The double, the
executor and the simulated cluster share one event loop and one CPU core, so the figures are an
upper bound on the executor's own overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pilothouse.executor.client import AgentClient
from pilothouse.executor.config import ExecutorConfig
from pilothouse.executor.runner import _die_with_parent
from pilothouse.executor.service import run_executor
from pilothouse.executor.testing import ProtocolDouble
from pilothouse.observability.logging import configure_logging
from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.serving import SimServer

WARM_UP = 50


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def sequential(double: ProtocolDouble, count: int) -> list[float]:
    """One ping at a time: latency without queueing. Milliseconds per ping."""
    latencies = []
    for _ in range(count):
        command_id = double.enqueue(kind="ping")
        await double.wait_result(command_id)
        command = double.commands[command_id]
        assert command.result_at is not None
        latencies.append((command.result_at - command.enqueued_at) * 1000)
    return latencies


async def bare_exchange(url: str, double: ProtocolDouble, count: int) -> list[float]:
    """Milliseconds per ``GET /agent/status`` with the executor's client: the HTTP floor."""
    latencies = []
    async with AgentClient(
        url, cluster_id=double.cluster_id, token=double.token, executor_id="bench"
    ) as client:
        for _ in range(WARM_UP):
            await client.status(inflight=0)
        for _ in range(count):
            started = time.perf_counter()
            await client.status(inflight=0)
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def spawn_cost(count: int, *, preexec: bool) -> list[float]:
    """Milliseconds to start and reap ``/bin/true`` from this process (the executor's size), with
    the runner's ``preexec_fn`` (PR_SET_PDEATHSIG; forces fork() instead of vfork()) or without."""
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            "/bin/true",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent if preexec else None,
        )
        await process.communicate()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def summary(latencies: list[float]) -> str:
    return (
        f"p50 {percentile(latencies, 0.50):.2f}  p90 {percentile(latencies, 0.90):.2f}  "
        f"p99 {percentile(latencies, 0.99):.2f}  max {max(latencies):.2f}  "
        f"mean {statistics.fmean(latencies):.2f}"
    )


async def burst(double: ProtocolDouble, count: int) -> float:
    """``count`` pings queued at once; seconds until the last result."""
    started = time.perf_counter()
    ids = [double.enqueue(kind="ping") for _ in range(count)]
    for command_id in ids:
        await double.wait_result(command_id, seconds=120)
    return time.perf_counter() - started


async def main(pings: int, concurrency: int) -> None:
    configure_logging("WARNING", "json")
    double = ProtocolDouble()
    with tempfile.TemporaryDirectory(prefix="pilothouse-bench-") as state:
        async with (
            SimServer(SimCluster(manual_clock=True), state_dir=Path(state)) as cluster,
            double.serve() as url,
        ):
            config = ExecutorConfig(
                server_url=url,
                cluster_id=double.cluster_id,
                token=double.token,
                kubeconfig=cluster.kubeconfig_path,
                concurrency=concurrency,
            )
            stop = asyncio.Event()
            executor = asyncio.create_task(run_executor(config, stop))
            await sequential(double, WARM_UP)
            latencies = await sequential(double, pings)
            burst_seconds = await burst(double, pings)
            stop.set()
            await executor
            floor = await bare_exchange(url, double, pings)
    with_preexec = await spawn_cost(200, preexec=True)
    without = await spawn_cost(200, preexec=False)
    print(f"executor round trip, {pings} sequential pings (ms): {summary(latencies)}")
    print(f"spawn /bin/true as the runner does (preexec_fn) (ms): {summary(with_preexec)}")
    print(f"spawn /bin/true without preexec_fn (vfork) (ms): {summary(without)}")
    print(f"one bare HTTP exchange, same client and server (ms): {summary(floor)}")
    print(
        f"burst of {pings} pings queued at once, concurrency {concurrency}: {burst_seconds:.2f} s "
        f"({pings / burst_seconds:.0f} results/s)"
    )
    print(f"python {sys.version.split()[0]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pings", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    options = parser.parse_args()
    asyncio.run(main(options.pings, options.concurrency))
