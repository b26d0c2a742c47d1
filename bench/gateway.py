"""Benchmark of the gateway: what the server and the tunnel add to a kubectl command, and how one
server copes with a fleet of executors.

    .venv/bin/python bench/gateway.py [--runs 200] [--pings 1000] [--executors 1000]
                                      [--duration 20] [--submitters 200] [--client-processes 1]

Everything runs as it would in production, each in its own process: ``pilothouse sim`` (the
``healthy`` scenario, real clock), ``pilothouse serve`` (a fresh SQLite database, rate limits off
with ``PILOTHOUSE_RATE_LIMITS__ENABLED=false``) and the real executor
(``python -m pilothouse.executor``) dialling in from "inside" the simulated cluster.

1. ``POST /debug/execute`` of ``get pods -A`` against running the same kubectl directly against the
   simulated cluster, interleaved so both see the same noise. Goal: the p50s within 15 %.
2. ``POST /clusters/{id}/ping``: the executor round trip without kubectl, as the client measures it
   and as the server reports it (``round_trip_ms``). Goal: p50 < 3 ms, p99 < 15 ms.
3. A fleet: the real executor is stopped, ``--executors`` clusters are registered and as many fake
   executors long-poll the server (one asyncio task and one keep-alive HTTP/1.1 connection each,
   spread over ``--client-processes``; see ``HttpConnection`` for why not httpx). Each answers a
   command at once. Measured: wake-up latency (a submitter's send to the
   fake executor receiving the command: one submitter at a time, then under load; goal p99 < 10 ms),
   sustained commands per second with ``--submitters`` concurrent sync ``/debug/execute`` callers
   for ``--duration`` seconds (goal >= 1,000), the server's RSS and CPU, and each client process's
   CPU: a client process near 100 % of a core is itself the bottleneck, and on a small machine the
   clients and the server share the same cores.

No assertions: it prints a table and the command line that produced it.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.connection
import os
import platform
import random
import resource
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from pilothouse.bootstrap import bootstrap_cluster_access, register_clusters
from pilothouse.observability.logging import configure_logging
from pilothouse.settings import Settings

CLUSTER_ID = "bench"
KUBECTL = str(Path(sys.executable).parent / "kubectl")
WARM_UP = 20
PING_WARM_UP = 50
LATENCY_SAMPLES = 500
POLL_WAIT_SECONDS = 30
PONG = {"success": True, "output": "pong", "error": None, "exit_code": 0, "execution_time_ms": 0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.1)


# --- processes ----------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


@dataclass
class Stack:
    directory: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.directory / f"{name}.log").open("wb")
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            self.stop(process)


def base_env(directory: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(directory), "LANG": "C.UTF-8"}


def kubectl_env(directory: Path, kubeconfig: Path) -> dict[str, str]:
    """What the executor gives kubectl (docs/executor-protocol.md), so both paths run the same."""
    return {**base_env(directory), "KUBECONFIG": str(kubeconfig), "KUBECTL_KUBERC": "false"}


def settle_pods(env: dict[str, str]) -> None:
    def all_running() -> bool:
        out = subprocess.run(
            [KUBECTL, "get", "pods", "-A", "--no-headers"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        ).stdout
        lines = out.splitlines()
        return bool(lines) and all(" Running " in line for line in lines)

    wait_for(all_running, 60, "the simulated pods to run")


# --- 1 and 2: one executor ----------------------------------------------------------------------


def execute_against_kubectl(
    client: httpx.Client, env: dict[str, str], runs: int
) -> tuple[list[float], list[float], list[float]]:
    """Milliseconds per gateway execute, per direct kubectl, and kubectl's time inside the executor."""
    body = {"cluster_id": CLUSTER_ID, "command_type": "get", "args": ["pods", "-A"]}
    gateway: list[float] = []
    direct: list[float] = []
    inside: list[float] = []

    def through_gateway(record: bool) -> None:
        started = time.perf_counter()
        response = client.post("/debug/execute", json=body)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200 or response.json()["status"] != "success":
            raise SystemExit(f"execute failed: {response.status_code} {response.text}")
        if record:
            gateway.append(elapsed)
            inside.append(float(response.json()["execution_time_ms"]))

    def directly(record: bool) -> None:
        started = time.perf_counter()
        subprocess.run([KUBECTL, "get", "pods", "-A"], capture_output=True, env=env, check=True)
        if record:
            direct.append((time.perf_counter() - started) * 1000)

    for index in range(WARM_UP + runs):
        record = index >= WARM_UP
        # Alternate which goes first, so neither always follows the other.
        first, second = (through_gateway, directly) if index % 2 else (directly, through_gateway)
        first(record)
        second(record)
    return gateway, direct, inside


def pings(client: httpx.Client, count: int) -> tuple[list[float], list[float]]:
    """Milliseconds per ping as the client measures it and as the server reports it."""
    client_ms: list[float] = []
    server_ms: list[float] = []
    for index in range(PING_WARM_UP + count):
        started = time.perf_counter()
        response = client.post(f"/clusters/{CLUSTER_ID}/ping")
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"ping failed: {response.status_code} {response.text}")
        if index >= PING_WARM_UP:
            client_ms.append(elapsed)
            server_ms.append(float(response.json()["round_trip_ms"]))
    return client_ms, server_ms


# --- 3: the fleet (runs in client processes) ----------------------------------------------------


class HttpConnection:
    """One keep-alive HTTP/1.1 connection, one request at a time: what a fake executor needs.

    Not httpx: one ``httpx.AsyncClient`` holding a thousand connections spent a whole core on its
    pool (every request scans it) and became the bottleneck it was meant to measure. This reads
    exactly what uvicorn sends (a status line, headers, a Content-Length or chunked body).
    """

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        fixed = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._fixed = f"Host: {host}:{port}\r\n{fixed}".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, target: str, body: Any = None) -> tuple[int, Any]:
        """(status, decoded JSON body or None); the connection is reopened after any error."""
        try:
            return await self._exchange(method, target, body)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            self.close()
            raise

    async def _exchange(self, method: str, target: str, body: Any) -> tuple[int, Any]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        payload = orjson.dumps(body) if body is not None else b""
        head = f"{method} {target} HTTP/1.1\r\nContent-Length: {len(payload)}\r\n".encode()
        content_type = b"Content-Type: application/json\r\n" if body is not None else b""
        self._writer.write(head + content_type + self._fixed + b"\r\n" + payload)
        lines = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if fields.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while size := int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16):
                data += (await self._reader.readexactly(size + 2))[:-2]
            await self._reader.readuntil(b"\r\n")
        else:
            data = await self._reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, orjson.loads(data) if data else None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


@dataclass
class FleetWorker:
    """One client process: fake executors for some clusters, and submitters for the same clusters
    (so that the send and the receipt of a command are timed on one clock)."""

    host: str
    port: int
    admin_key: str
    clusters: list[tuple[str, str]]
    submitters: int
    sent: dict[str, float] = field(default_factory=dict)
    received: dict[str, float] = field(default_factory=dict)
    arrivals: dict[str, asyncio.Event] = field(default_factory=dict)
    poll_errors: int = 0

    def client(self) -> HttpConnection:
        return HttpConnection(self.host, self.port, {"X-API-Key": self.admin_key})

    async def executor(self, cluster_id: str, token: str, index: int) -> None:
        connection = HttpConnection(
            self.host,
            self.port,
            {
                "Authorization": f"Bearer {token}",
                "X-Cluster-ID": cluster_id,
                "X-Executor-Id": f"bench-{index}",
                "X-Executor-Version": "bench",
                "X-Executor-Inflight": "0",
            },
        )
        poll = f"/agent/commands?wait={POLL_WAIT_SECONDS}"
        while True:
            try:
                status, body = await asyncio.wait_for(connection.request("GET", poll), POLL_WAIT_SECONDS + 30)
                if status == 204:
                    continue
                if status != 200:
                    raise ValueError(f"poll answered {status}")
                now = time.perf_counter()
                for command in body["commands"]:
                    correlation_id = command.get("correlation_id")
                    if correlation_id:
                        self.received[correlation_id] = now
                        arrival = self.arrivals.get(correlation_id)
                        if arrival is not None:
                            arrival.set()
                    await connection.request(
                        "POST", "/agent/results", {"command_id": command["id"], "result": PONG}
                    )
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError):
                connection.close()
                self.poll_errors += 1
                await asyncio.sleep(0.5)

    def request(self) -> dict[str, Any]:
        cluster_id = random.choice(self.clusters)[0]
        correlation_id = uuid.uuid4().hex
        return {
            "cluster_id": cluster_id,
            "command_type": "get",
            "args": ["pods"],
            "correlation_id": correlation_id,
        }

    async def quiet_latency(self, samples: int) -> list[float]:
        """One command at a time: milliseconds from sending it to a fake executor holding it."""
        connection = self.client()
        latencies = []
        for _ in range(samples):
            body = self.request()
            arrival = self.arrivals[body["correlation_id"]] = asyncio.Event()
            sent = time.perf_counter()
            status, answer = await connection.request("POST", "/debug/execute/async", body)
            if status != 202:
                raise RuntimeError(f"async execute failed: {status} {answer}")
            await asyncio.wait_for(arrival.wait(), 30)
            latencies.append((self.received[body["correlation_id"]] - sent) * 1000)
            del self.arrivals[body["correlation_id"]]
        connection.close()
        return latencies

    async def load(self, duration: float) -> dict[str, Any]:
        """``submitters`` sync callers for ``duration`` seconds."""
        statuses: dict[int, int] = {}
        completed = 0
        self.sent.clear()
        self.received.clear()
        stop_at = time.perf_counter() + duration

        async def submitter() -> None:
            nonlocal completed
            connection = self.client()
            while time.perf_counter() < stop_at:
                body = self.request()
                self.sent[body["correlation_id"]] = time.perf_counter()
                try:
                    status, _ = await asyncio.wait_for(connection.request("POST", "/debug/execute", body), 60)
                except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError):
                    connection.close()
                    statuses[0] = statuses.get(0, 0) + 1
                    continue
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    completed += 1
            connection.close()

        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        await asyncio.gather(*(submitter() for _ in range(self.submitters)))
        wall = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        wake = [(self.received[key] - sent) * 1000 for key, sent in self.sent.items() if key in self.received]
        return {
            "completed": completed,
            "wall": wall,
            "duration": duration,
            "cpu": cpu,
            "statuses": statuses,
            "wake": wake,
        }

    async def serve(self, conn: multiprocessing.connection.Connection) -> None:
        loop = asyncio.get_running_loop()
        tasks = [
            asyncio.create_task(self.executor(cluster_id, token, index))
            for index, (cluster_id, token) in enumerate(self.clusters)
        ]
        conn.send("polling")
        while True:
            order, argument = await loop.run_in_executor(None, conn.recv)
            if order == "latency":
                conn.send(await self.quiet_latency(argument))
            elif order == "load":
                conn.send({**(await self.load(argument)), "poll_errors": self.poll_errors})
            else:
                break
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def fleet_process(conn: multiprocessing.connection.Connection, worker: FleetWorker) -> None:
    asyncio.run(worker.serve(conn))


def connected_count(client: httpx.Client, prefix: str) -> int:
    clusters = client.get("/clusters").json()["clusters"]
    return sum(
        1
        for cluster in clusters
        if cluster["cluster_id"].startswith(prefix) and cluster["status"] == "connected"
    )


# --- report -------------------------------------------------------------------------------------


def row(name: str, values: list[float] | None, extra: str = "", goal: str = "") -> str:
    if values:
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        figures = f"{p50:9.2f} {p99:9.2f}"
    else:
        figures = f"{'':9} {'':9}"
    return f"  {name:46} {figures}  {extra:24} {goal}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=200, help="execute/kubectl pairs measured")
    parser.add_argument("--pings", type=int, default=1000)
    parser.add_argument("--executors", type=int, default=1000, help="fake executors in the fleet")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of sustained load")
    parser.add_argument("--submitters", type=int, default=200, help="concurrent sync callers (all processes)")
    parser.add_argument("--client-processes", type=int, default=1, help="processes sharing the fleet")
    parser.add_argument("--scenario", default="healthy")
    args = parser.parse_args()
    configure_logging("WARNING", "console", stream=sys.stderr)
    command_line = " ".join(
        shlex.quote(part) for part in [".venv/bin/python", "bench/gateway.py", *sys.argv[1:]]
    )

    # Every fake executor holds a connection, on both sides.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 4 * args.executors + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))

    with tempfile.TemporaryDirectory(prefix="pilothouse-gateway-bench-") as tmp:
        directory = Path(tmp)
        stack = Stack(directory)
        try:
            report = run(args, directory, stack)
        finally:
            stack.stop_all()
    print()
    print(
        f"Pilothouse gateway bench: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    print(f"command: {command_line}")
    print(f"  {'':46} {'p50 ms':>9} {'p99 ms':>9}")
    for line in report:
        print(line)


def run(args: argparse.Namespace, directory: Path, stack: Stack) -> list[str]:
    kubeconfig = directory / "kubeconfig"
    sim_port, server_port = free_port(), free_port()
    stack.spawn(
        "sim",
        [
            sys.executable,
            "-m",
            "pilothouse.cli.main",
            "sim",
            "--scenario",
            args.scenario,
            "--port",
            str(sim_port),
            "--kubeconfig-out",
            str(kubeconfig),
        ],
        base_env(directory),
    )
    env = kubectl_env(directory, kubeconfig)
    wait_for(
        lambda: kubeconfig.exists() and httpx.get(f"http://127.0.0.1:{sim_port}/version").status_code == 200,
        60,
        "the simulated cluster",
    )
    settle_pods(env)

    database_url = f"sqlite+aiosqlite:///{directory / 'pilothouse.db'}"
    settings = Settings(database_url=database_url)
    api_key, executor_token = asyncio.run(
        bootstrap_cluster_access(settings, CLUSTER_ID, security_mode="readOnly")
    )
    fleet_ids = [f"fleet-{index:05d}" for index in range(args.executors)]
    fleet_tokens = asyncio.run(register_clusters(settings, fleet_ids, security_mode="readOnly"))

    server = stack.spawn(
        "server",
        [
            sys.executable,
            "-m",
            "pilothouse.cli.main",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(server_port),
        ],
        {
            **base_env(directory),
            "PILOTHOUSE_DATABASE_URL": database_url,
            "PILOTHOUSE_RATE_LIMITS__ENABLED": "false",
            "PILOTHOUSE_LOG_LEVEL": "WARNING",
        },
    )
    url = f"http://127.0.0.1:{server_port}"
    wait_for(lambda: httpx.get(f"{url}/health").status_code == 200, 60, "the server")
    executor = stack.spawn(
        "executor",
        [
            sys.executable,
            "-m",
            "pilothouse.executor",
            "--server",
            url,
            "--cluster-id",
            CLUSTER_ID,
            "--kubeconfig",
            str(kubeconfig),
            "--log-level",
            "WARNING",
        ],
        {**base_env(directory), "PILOTHOUSE_EXECUTOR_TOKEN": executor_token},
    )
    report: list[str] = []
    with httpx.Client(base_url=url, headers={"X-API-Key": api_key}, timeout=60) as client:

        def executor_ready() -> bool:
            status = client.get(f"/clusters/{CLUSTER_ID}/status").json()
            return bool(status["connected"] and status["discovery"])

        wait_for(executor_ready, 60, "the executor")
        print(f"1/3 execute vs kubectl: {args.runs} pairs after {WARM_UP} warm-up", file=sys.stderr)
        gateway, direct, inside = execute_against_kubectl(client, env, args.runs)
        ratio = statistics.median(gateway) / statistics.median(direct)
        report.append("one executor, `get pods -A` against the simulated cluster")
        report.append(row("POST /debug/execute (client)", gateway, f"n={len(gateway)}"))
        report.append(row("kubectl directly", direct, f"n={len(direct)}"))
        report.append(row("kubectl inside the executor (execution_time_ms)", inside))
        report.append(row("", None, f"p50 ratio {ratio:.3f}", "goal <= 1.15"))

        print(f"2/3 ping: {args.pings} after {PING_WARM_UP} warm-up", file=sys.stderr)
        client_ms, server_ms = pings(client, args.pings)
        report.append(
            row(
                "POST /clusters/{id}/ping (client)",
                client_ms,
                f"n={len(client_ms)}",
                "goal p50 < 3, p99 < 15",
            )
        )
        report.append(row("  round_trip_ms (server reports)", server_ms))
        stack.stop(executor)

        print(
            f"3/3 fleet: {args.executors} executors in {args.client_processes} client process(es)",
            file=sys.stderr,
        )
        report.extend(
            fleet(
                args,
                "127.0.0.1",
                server_port,
                api_key,
                [(cid, fleet_tokens[cid]) for cid in fleet_ids],
                server,
                client,
            )
        )
    return report


def fleet(
    args: argparse.Namespace,
    host: str,
    port: int,
    api_key: str,
    clusters: list[tuple[str, str]],
    server: subprocess.Popen[bytes],
    client: httpx.Client,
) -> list[str]:
    processes = max(1, args.client_processes)
    context = multiprocessing.get_context("spawn")
    workers = []
    for index in range(processes):
        mine = clusters[index::processes]
        submitters = args.submitters // processes + (1 if index < args.submitters % processes else 0)
        parent, child = context.Pipe()
        process = context.Process(
            target=fleet_process,
            args=(child, FleetWorker(host, port, api_key, mine, submitters)),
            daemon=True,
        )
        process.start()
        workers.append((process, parent))
    with _stopping(workers):
        for _, conn in workers:
            if conn.recv() != "polling":
                raise SystemExit("a client process failed to start")
        wait_for(lambda: connected_count(client, "fleet-") == len(clusters), 120, "the fleet to connect")
        rss_idle, _ = memory_mib(server.pid)

        workers[0][1].send(("latency", LATENCY_SAMPLES))
        quiet = workers[0][1].recv()

        cpu_before, wall_before = cpu_seconds(server.pid), time.perf_counter()
        for _, conn in workers:
            conn.send(("load", args.duration))
        results = [conn.recv() for _, conn in workers]
        server_cpu = (cpu_seconds(server.pid) - cpu_before) / (time.perf_counter() - wall_before)
        rss, hwm = memory_mib(server.pid)

    completed = sum(result["completed"] for result in results)
    wall = max(result["wall"] for result in results)
    statuses: dict[int, int] = {}
    for result in results:
        for status, count in result["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    wake = [value for result in results for value in result["wake"]]
    client_cpu = ", ".join(f"{100 * result['cpu'] / result['wall']:.0f}%" for result in results)
    poll_errors = sum(result["poll_errors"] for result in results)
    return [
        f"fleet: {len(clusters)} fake executors long-polling (wait={POLL_WAIT_SECONDS}), "
        f"{processes} client process(es), one keep-alive connection each",
        row("wake-up latency, one command at a time", quiet, f"n={len(quiet)}", "goal p99 < 10"),
        row(f"wake-up latency, {args.submitters} sync submitters", wake, f"n={len(wake)}"),
        row(f"commands/s sustained over {wall:.1f} s", None, f"{completed / wall:,.0f}/s", "goal >= 1,000"),
        row("answers by status (0 = transport error)", None, str(dict(sorted(statuses.items())))),
        row("executor poll errors", None, str(poll_errors)),
        row(
            "server RSS: idle fleet / under load (peak)", None, f"{rss_idle:.0f} / {rss:.0f} ({hwm:.0f}) MiB"
        ),
        row("server CPU under load (% of one core)", None, f"{100 * server_cpu:.0f}%"),
        row("client CPU under load, per process", None, client_cpu),
    ]


@contextmanager
def _stopping(
    workers: Sequence[tuple[multiprocessing.process.BaseProcess, multiprocessing.connection.Connection]],
) -> Iterator[None]:
    try:
        yield
    finally:
        for process, conn in workers:
            with suppress(OSError):
                conn.send(("stop", None))
            process.join(10)
            if process.is_alive():
                process.terminate()


if __name__ == "__main__":
    main()
