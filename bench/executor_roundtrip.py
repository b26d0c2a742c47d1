"""What the executor costs per command, before and after, side by side in one run.

    .venv/bin/python bench/executor_roundtrip.py [--pings 1000] [--rounds 3] [--concurrency 4]
    # with the committed tree as "before" (its executor run from its own copy):
    git archive HEAD src | tar -x -C /tmp/before
    .venv/bin/python bench/executor_roundtrip.py --baseline-src /tmp/before/src

Figures, each the median over all rounds (variants interleaved, the order rotating every round):

- ``spawn``: starting and reaping ``/bin/true`` from this process (its RSS is printed: fork()
  costs grow with it): as the runner did before (``asyncio.create_subprocess_exec`` with a
  ``preexec_fn`` setting PR_SET_PDEATHSIG, so fork() instead of vfork()), as ``run_process`` does
  now (``setpriv --pdeathsig``, vfork, a pidfd), the same without setpriv (the floor), and, for
  why the runner does not use it, uvloop's own ``create_subprocess_exec`` (libuv forks).
- ``kubectl``: ``kubectl get pods -A`` against the simulated cluster through the old and the new
  runner and run directly (``subprocess.run``): the executor's share of a real command.
- ``ping``: the round trip of a ``ping`` command (enqueued on the protocol double, long-poll
  answer, result POST; no kubectl) through a real executor process (``run_executor``, as
  ``pilothouse executor`` runs it) per variant: this tree on uvloop and on asyncio, and with
  ``--baseline-src`` the baseline tree (httpx, asyncio). Also the executor's CPU per ping (from
  /proc) and a burst of ``--pings`` pings queued at once.
- ``exchange``: one bare ``GET /agent/status`` through each variant's ``AgentClient``: latency
  and the client process's CPU per request.

The protocol double and the simulated cluster run in this process on plain asyncio, the same for
every variant; executors and clients are separate processes, so their CPU is their own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import uvloop

from pilothouse.executor import runner
from pilothouse.executor.client import AgentClient
from pilothouse.executor.config import ExecutorConfig, default_kubectl
from pilothouse.executor.service import run_executor
from pilothouse.executor.testing import ProtocolDouble
from pilothouse.observability.logging import configure_logging
from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.serving import SimServer

WARM_UP = 50
SPAWNS = 200
KUBECTL_RUNS = 30
SRC = Path(__file__).resolve().parent.parent / "src"
TRUE = "/bin/true"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 0.50):6.2f}  p90 {percentile(values, 0.90):6.2f}  "
        f"p99 {percentile(values, 0.99):6.2f}  mean {statistics.fmean(values):6.2f}"
    )


def rotated(items: list[Any], round_number: int) -> list[Any]:
    shift = round_number % len(items)
    return items[shift:] + items[:shift]


# --- spawning -----------------------------------------------------------------------------------


async def spawn_with_asyncio(argv: list[str], preexec_fn: Callable[[], None] | None = None) -> None:
    """The event loop's own subprocess (under uvloop: libuv's fork)."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        preexec_fn=preexec_fn,
    )
    await process.communicate()


async def spawn_before(argv: list[str]) -> None:
    """The runner before: asyncio's subprocess with the PR_SET_PDEATHSIG preexec_fn."""
    await spawn_with_asyncio(argv, partial(runner._die_with_parent, os.getpid()))


def spawn_runner(mode: runner.SpawnMode) -> Callable[[list[str]], Awaitable[None]]:
    async def spawn(argv: list[str]) -> None:
        runner._spawn_mode = mode
        await runner.run_process(argv, env={"PATH": "/usr/bin:/bin"}, time_limit=60, max_output_bytes=1 << 20)

    return spawn


def spawn_variants(loop: str) -> dict[str, Callable[[list[str]], Awaitable[None]]]:
    chosen = runner._choose_spawn_mode()
    variants: dict[str, Callable[[list[str]], Awaitable[None]]] = {}
    if loop == "asyncio":
        variants["before: create_subprocess_exec + preexec_fn (asyncio)"] = spawn_before
    else:
        variants["uvloop's create_subprocess_exec, no preexec_fn"] = spawn_with_asyncio
    variants[f"after: run_process, {chosen.name} ({loop})"] = spawn_runner(chosen)
    variants[f"floor: run_process, no death signal ({loop})"] = spawn_runner(
        runner.SpawnMode("bare", "bench")
    )
    return variants


async def time_spawns(
    argv: list[str], count: int, rounds: int, loop: str, results: dict[str, list[float]]
) -> None:
    chosen = runner.spawn_mode()
    variants = spawn_variants(loop)
    try:
        for round_number in range(rounds):
            for name in rotated(list(variants), round_number):
                for index in range(count // rounds + 5):
                    started = time.perf_counter()
                    await variants[name](argv)
                    if index >= 5:  # the first few warm caches (and the page tables of a fork)
                        results[name].append((time.perf_counter() - started) * 1000)
    finally:
        runner._spawn_mode = chosen


# --- executor and client processes --------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    name: str
    src: Path
    loop: str  # asyncio or uvloop

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PILOTHOUSE_")}
        env["PYTHONPATH"] = str(self.src)  # ahead of the editable install's own path
        return env

    def command(self, *arguments: str) -> list[str]:
        return [sys.executable, __file__, "--loop", self.loop, *arguments]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def ping_round_trips(double: ProtocolDouble, count: int) -> list[float]:
    """One ping at a time: latency without queueing. Milliseconds per ping."""
    latencies = []
    for _ in range(count):
        command_id = double.enqueue(kind="ping")
        await double.wait_result(command_id)
        command = double.commands[command_id]
        assert command.result_at is not None
        latencies.append((command.result_at - command.enqueued_at) * 1000)
    return latencies


async def burst(double: ProtocolDouble, count: int) -> float:
    """``count`` pings queued at once; seconds until the last result."""
    started = time.perf_counter()
    ids = [double.enqueue(kind="ping") for _ in range(count)]
    for command_id in ids:
        await double.wait_result(command_id, seconds=120)
    return time.perf_counter() - started


@dataclass
class Figures:
    pings: list[float]
    cpu_per_ping: list[float]
    burst_rate: list[float]
    exchanges: list[float]
    cpu_per_exchange: list[float]


async def run_variant(
    variant: Variant, url: str, double: ProtocolDouble, kubeconfig: Path, options: argparse.Namespace
) -> tuple[list[float], float, float]:
    """Pings through a new executor process of ``variant``: latencies, CPU ms per ping, burst/s."""
    executor = await asyncio.create_subprocess_exec(
        *variant.command("--serve-executor", url, "--kubeconfig", str(kubeconfig)),
        env=variant.environment(),
    )
    try:
        await asyncio.wait_for(double.wait_result(double.enqueue(kind="ping"), seconds=60), 60)
        await ping_round_trips(double, WARM_UP)
        cpu_before = cpu_seconds(executor.pid)
        latencies = await ping_round_trips(double, options.pings)
        cpu = (cpu_seconds(executor.pid) - cpu_before) * 1000 / options.pings
        seconds = await burst(double, options.pings)
    finally:
        executor.send_signal(signal.SIGTERM)
        await executor.wait()
    return latencies, cpu, options.pings / seconds


async def run_exchanges(variant: Variant, url: str, count: int) -> tuple[list[float], float]:
    client = await asyncio.create_subprocess_exec(
        *variant.command("--exchange", url, "--count", str(count)),
        env=variant.environment(),
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await client.communicate()
    assert client.returncode == 0, f"{variant.name}: the exchange client failed"
    answer = json.loads(output)
    return answer["latencies"], answer["cpu_ms"]


async def kubectl_variants(kubeconfig: Path, rounds: int) -> dict[str, list[float]]:
    argv = [default_kubectl(), f"--kubeconfig={kubeconfig}", "get", "pods", "-A"]
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "KUBECTL_KUBERC": "false"}
    chosen = runner.spawn_mode()

    async def before() -> None:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
            preexec_fn=partial(runner._die_with_parent, os.getpid()),
        )
        await process.communicate()
        assert process.returncode == 0

    async def after() -> None:
        outcome = await runner.run_process(argv, env=env, time_limit=60, max_output_bytes=1 << 20)
        assert outcome.exit_code == 0, outcome.stderr.data

    async def direct() -> None:
        # In a thread: the simulated cluster kubectl talks to is served by this event loop.
        await asyncio.to_thread(subprocess.run, argv, env=env, capture_output=True, check=True)

    variants = {
        "before: old runner (preexec_fn)": before,
        f"after: run_process ({chosen.name})": after,
        "kubectl run directly": direct,
    }
    results: dict[str, list[float]] = defaultdict(list)
    for round_number in range(rounds * KUBECTL_RUNS):
        for name in rotated(list(variants), round_number):
            started = time.perf_counter()
            await variants[name]()
            if round_number >= 2:
                results[name].append((time.perf_counter() - started) * 1000)
    return results


async def measure(
    options: argparse.Namespace,
) -> tuple[dict[str, Figures], dict[str, list[float]], dict[str, list[float]]]:
    variants = [
        Variant("after: this tree, uvloop", SRC, "uvloop"),
        Variant("after: this tree, asyncio", SRC, "asyncio"),
    ]
    if options.baseline_src is not None:
        variants.insert(0, Variant("before: baseline tree, asyncio", options.baseline_src, "asyncio"))
    figures = {variant.name: Figures([], [], [], [], []) for variant in variants}
    with tempfile.TemporaryDirectory(prefix="pilothouse-bench-") as state:
        async with SimServer(SimCluster(manual_clock=True), state_dir=Path(state)) as cluster:
            assert cluster.kubeconfig_path is not None
            kubectl = await kubectl_variants(cluster.kubeconfig_path, options.rounds)
            for round_number in range(options.rounds):
                for variant in rotated(variants, round_number):
                    print(f"round {round_number + 1}: {variant.name}", file=sys.stderr, flush=True)
                    # A new double each time: it scans every command it ever held on each poll.
                    double = ProtocolDouble()
                    async with double.serve() as url:
                        latencies, cpu, rate = await run_variant(
                            variant, url, double, cluster.kubeconfig_path, options
                        )
                        exchanges, exchange_cpu = await run_exchanges(variant, url, options.pings)
                    entry = figures[variant.name]
                    entry.pings += latencies
                    entry.cpu_per_ping.append(cpu)
                    entry.burst_rate.append(rate)
                    entry.exchanges += exchanges
                    entry.cpu_per_exchange.append(exchange_cpu)
    spawns: dict[str, list[float]] = defaultdict(list)
    await time_spawns([TRUE], SPAWNS, options.rounds, "asyncio", spawns)
    return figures, spawns, kubectl


def main(options: argparse.Namespace) -> None:
    configure_logging("ERROR", "json")
    figures, spawns, kubectl = asyncio.run(measure(options))
    uvloop_spawns: dict[str, list[float]] = defaultdict(list)
    uvloop.run(time_spawns([TRUE], SPAWNS, options.rounds, "uvloop", uvloop_spawns))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    width = max(len(name) for name in [*figures, *spawns, *uvloop_spawns, *kubectl]) + 2
    print(f"\nspawn {TRUE} from a {rss} MB process, ms ({SPAWNS} each):")
    for name, values in [*spawns.items(), *uvloop_spawns.items()]:
        print(f"  {name:<{width}} {summary(values)}")
    print("\nkubectl get pods -A against the simulated cluster, ms:")
    for name, values in kubectl.items():
        print(f"  {name:<{width}} {summary(values)}")
    print(f"\nping round trip, {options.pings} sequential pings per round, {options.rounds} rounds, ms:")
    for name, entry in figures.items():
        print(f"  {name:<{width}} {summary(entry.pings)}")
    print("\nexecutor CPU per ping (ms, /proc; one figure per round) and burst (results/s):")
    for name, entry in figures.items():
        cpu = " / ".join(f"{value:.2f}" for value in entry.cpu_per_ping)
        rate = " / ".join(f"{value:.0f}" for value in entry.burst_rate)
        print(f"  {name:<{width}} cpu {cpu}   burst {rate}")
    print("\none bare GET /agent/status through the variant's AgentClient, ms; client CPU ms per request:")
    for name, entry in figures.items():
        cpu = " / ".join(f"{value:.2f}" for value in entry.cpu_per_exchange)
        print(f"  {name:<{width}} {summary(entry.exchanges)}   cpu {cpu}")
    print(f"\npython {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")


# --- the child processes ------------------------------------------------------------------------


def loop_runner(name: str) -> Callable[[Coroutine[Any, Any, None]], None]:
    return uvloop.run if name == "uvloop" else asyncio.run


async def serve_executor(url: str, kubeconfig: Path, concurrency: int) -> None:
    """An executor as ``pilothouse executor`` runs one, until SIGTERM, from the tree on PYTHONPATH."""
    double = ProtocolDouble()
    config = ExecutorConfig(
        server_url=url,
        cluster_id=double.cluster_id,
        token=double.token,
        kubeconfig=kubeconfig,
        concurrency=concurrency,
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await run_executor(config, stop)


async def exchange(url: str, count: int) -> None:
    double = ProtocolDouble()
    async with AgentClient(
        url, cluster_id=double.cluster_id, token=double.token, executor_id="bench"
    ) as client:
        for _ in range(WARM_UP):
            await client.status(inflight=0)
        latencies = []
        cpu = time.process_time()
        for _ in range(count):
            started = time.perf_counter()
            await client.status(inflight=0)
            latencies.append((time.perf_counter() - started) * 1000)
        cpu_ms = (time.process_time() - cpu) * 1000 / count
    print(json.dumps({"latencies": latencies, "cpu_ms": cpu_ms}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pings", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--baseline-src", type=Path, help="the 'before' tree's src directory")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio", help=argparse.SUPPRESS)
    parser.add_argument("--serve-executor", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--kubeconfig", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--exchange", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=1000, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve_executor:
        configure_logging("ERROR", "json")
        loop_runner(options.loop)(
            serve_executor(options.serve_executor, options.kubeconfig, options.concurrency)
        )
    elif options.exchange:
        loop_runner(options.loop)(exchange(options.exchange, options.count))
    else:
        main(options)
