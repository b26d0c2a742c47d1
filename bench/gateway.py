"""Benchmark of the gateway: what the server and the tunnel add to a kubectl command, and how one
server copes with a fleet of executors.

    .venv/bin/python bench/gateway.py [--backends sqlite,postgres] [--baseline-src DIR]
                                      [--phases execute,ping,fleet] [--runs 200] [--pings 1000]
                                      [--executors 1000] [--duration 20] [--submitters 200]
                                      [--client-processes 1] [--profile-dir DIR]

Everything runs as it would in production, each in its own process: ``pilothouse sim`` (the
``healthy`` scenario, real clock), one ``pilothouse serve`` per *variant* (rate limits off with
``PILOTHOUSE_RATE_LIMITS__ENABLED=false``) and one real executor per variant
(``python -m pilothouse.executor``) dialling in from "inside" the simulated cluster.

A variant is a backend (``sqlite``: a fresh SQLite file and the in-process bus; ``postgres``: a
fresh PostgreSQL database and the in-process bus; ``postgres+redis``: PostgreSQL and the Redis bus,
as replicas run) and a source tree: this one, and with ``--baseline-src`` (e.g. ``git archive
HEAD src | tar -x -C /tmp/before``, then ``--baseline-src /tmp/before/src``) the same backends
served by that tree, so that before and after are measured side by side in one run.

1. ``POST /debug/execute`` of ``get pods -A`` on every variant against running the same kubectl
   directly against the simulated cluster, interleaved (the order rotates every round) so all see
   the same noise. Goal: each variant's p50 within 15 % of kubectl's.
2. ``POST /clusters/{id}/ping``: the executor round trip without kubectl, as the client measures it
   and as the server reports it (``round_trip_ms``), interleaved across variants.
   Goal: p50 < 3 ms, p99 < 15 ms.
3. A fleet, one variant after the other: the real executors are stopped, ``--executors`` clusters
   are registered and as many fake executors long-poll the server (one asyncio task and one
   keep-alive HTTP/1.1 connection each, spread over ``--client-processes``; see ``HttpConnection``
   for why not httpx). Each answers a command at once. Measured: wake-up latency (a submitter's
   send to the fake executor receiving the command: one submitter at a time, then under load; goal
   p99 < 10 ms), sustained commands per second with ``--submitters`` concurrent sync
   ``/debug/execute`` callers for ``--duration`` seconds (goal >= 1,000), the server's RSS and CPU,
   and each client process's CPU: a client process near 100 % of a core is itself the bottleneck,
   and on a small machine the clients and the server share the same cores.

The client of phases 1 and 2 is a blocking keep-alive HTTP/1.1 connection on a plain socket
(``BlockingHttp``), not httpx: httpx spends about 1.3 ms of CPU per request on the 2-core
development machine, which would be charged to the gateway. ``--profile-dir`` runs each server
under cProfile and writes ``<variant>.prof`` there when it stops.

Two more phases leave the network out and call the app in-process (ASGI) with a fake executor in
the same event loop: ``cpu`` (CPU and wall milliseconds per ping and execute) and
``instructions`` (instructions per command counted by valgrind's callgrind, the one figure the
noise of a shared machine does not move; needs valgrind, takes a few minutes per variant).

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
import re
import resource
import shlex
import shutil
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

import asyncpg
import httpx
import orjson
import redis
from sqlalchemy.engine import make_url

from pilothouse.observability.logging import configure_logging

CLUSTER_ID = "bench"
KUBECTL = str(Path(sys.executable).parent / "kubectl")
WARM_UP = 20
# Pings and executes of the two in-process runs the instructions phase subtracts.
INSTRUCTION_COUNTS = (50, 150)
PING_WARM_UP = 50
LATENCY_SAMPLES = 500
POLL_WAIT_SECONDS = 30
PONG = {"success": True, "output": "pong", "error": None, "exit_code": 0, "execution_time_ms": 0}
POSTGRES_URL = os.environ.get(
    "PILOTHOUSE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("PILOTHOUSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = ("sqlite", "postgres", "postgres+redis")
# Failed executes and pings by variant (reported with the figures).
FAILURES: dict[str, int] = {}


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

    # uvicorn re-raises the signal that stopped it; SIGINT's KeyboardInterrupt still lets
    # cProfile write its file, SIGTERM's default action would not.
    interrupt: set[int] = field(default_factory=set)

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGINT if process.pid in self.interrupt else signal.SIGTERM)
            try:
                process.wait(30)
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


# --- variants -----------------------------------------------------------------------------------


@dataclass
class Variant:
    """One server (and, for phases 1 and 2, one executor) of a source tree on a backend."""

    label: str
    backend: str
    src: Path | None  # None: the tree this script belongs to
    database_url: str = ""
    redis_prefix: str | None = None
    postgres_database: str | None = None
    port: int = 0
    server: subprocess.Popen[bytes] | None = None
    executor: subprocess.Popen[bytes] | None = None
    api_key: str = ""
    executor_token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, directory: Path) -> dict[str, str]:
        env = base_env(directory)
        if self.src is not None:
            env["PYTHONPATH"] = str(self.src)
        return env


def make_variants(backends: list[str], baseline: Path | None, src: Path | None = None) -> list[Variant]:
    variants = [Variant(backend, backend, src) for backend in backends]
    if baseline is not None:
        variants += [Variant(f"before/{backend}", backend, baseline) for backend in backends]
    return variants


async def create_postgres_database() -> tuple[str, str]:
    base = make_url(POSTGRES_URL)
    admin = await asyncpg.connect(base.set(drivername="postgresql").render_as_string(hide_password=False))
    name = f"pilothouse_bench_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name, base.set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(name: str) -> None:
    base = make_url(POSTGRES_URL)
    admin = await asyncpg.connect(base.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def prepare_storage(variant: Variant, directory: Path) -> None:
    if variant.backend == "sqlite":
        variant.database_url = f"sqlite+aiosqlite:///{directory / (variant.label.replace('/', '-') + '.db')}"
        return
    variant.postgres_database, variant.database_url = asyncio.run(create_postgres_database())
    if variant.backend == "postgres+redis":
        variant.redis_prefix = f"pilothouse-bench:{uuid.uuid4().hex[:12]}:"


def release_storage(variant: Variant) -> None:
    if variant.postgres_database is not None:
        with suppress(OSError, asyncpg.PostgresError):
            asyncio.run(drop_postgres_database(variant.postgres_database))
    if variant.redis_prefix is not None:
        with suppress(redis.RedisError):
            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(match=f"{variant.redis_prefix}*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()


_BOOTSTRAP = """
import asyncio, json, sys
from pilothouse.bootstrap import bootstrap_cluster_access, register_clusters
from pilothouse.settings import Settings
order = json.loads(sys.argv[1])
settings = Settings(**order["settings"])
if order["fleet"]:
    print(json.dumps(asyncio.run(register_clusters(settings, order["fleet"], security_mode="readOnly"))))
else:
    key, token = asyncio.run(bootstrap_cluster_access(settings, order["cluster"], security_mode="readOnly"))
    print(json.dumps([key, token]))
"""


_CPU = """
import asyncio, json, secrets, sys, time
import orjson
from pilothouse.app import create_app
from pilothouse.audit.service import Actor
from pilothouse.observability.logging import configure_logging
from pilothouse.settings import Settings


async def call(app, method, path, headers, body=b"", query=b""):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
             "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
             "headers": [(k.encode(), v.encode()) for k, v in headers.items()]
             + [(b"content-length", str(len(body)).encode())]}
    done = asyncio.Event()
    sent = False
    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}
    answer = {"status": 0, "body": b""}
    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")
    await app(scope, receive, send)
    done.set()
    return answer["status"], orjson.loads(answer["body"]) if answer["body"] else None


async def main(order):
    configure_logging("WARNING", "json")
    key = "ph_cpu-" + secrets.token_hex(6) + "_" + secrets.token_urlsafe(32)
    cluster = "cpu-" + secrets.token_hex(6)
    settings = Settings(**order["settings"], bootstrap_admin_key=key, rate_limits={"enabled": False})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with app.state.database.session() as session:
            actor = Actor(key_id=None, name="b")
            issued = await app.state.cluster_registry.add(session, cluster, actor=actor)
        executor = {"authorization": "Bearer " + issued.token, "x-cluster-id": cluster,
                    "x-executor-id": "cpu", "x-executor-version": "bench", "x-executor-inflight": "0"}
        client = {"x-api-key": key, "content-type": "application/json"}
        stop = False
        async def serve():
            while not stop:
                status, body = await call(app, "GET", "/agent/commands", executor, query=b"wait=1")
                for command in (body or {}).get("commands", []):
                    result = {"command_id": command["id"], "result": {"success": True, "output": "pong",
                              "exit_code": 0, "execution_time_ms": 0}}
                    headers = {**executor, "content-type": "application/json"}
                    await call(app, "POST", "/agent/results", headers, orjson.dumps(result))
        await call(app, "GET", "/agent/status", executor)  # connected before the first command
        serving = asyncio.create_task(serve())
        execute = orjson.dumps({"cluster_id": cluster, "command_type": "get", "args": ["pods"]})
        figures = {}
        for kind in ("warm-up", "ping", "execute"):
            count = 100 if kind == "warm-up" else order["count"]
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(count):
                if kind == "execute":
                    status, _ = await call(app, "POST", "/debug/execute", client, execute)
                else:
                    status, _ = await call(app, "POST", "/clusters/" + cluster + "/ping", client)
                assert status == 200, status
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            figures[kind] = [cpu / count * 1000, wall / count * 1000]
        stop = True
        await serving
    print(json.dumps(figures))


import uvloop
uvloop.run(main(json.loads(sys.argv[1])))
"""


def in_process_run(
    variant: Variant, directory: Path, count: int, runner: Sequence[str] = (), suffix: str = "cpu"
) -> subprocess.CompletedProcess[str]:
    """The in-process script (``_CPU``) for ``variant`` with ``count`` pings and executes, under
    ``runner`` (e.g. valgrind) if given."""
    settings: dict[str, Any] = {"database_url": variant.database_url, "jwt_secret": "gateway-bench"}
    if variant.backend == "sqlite":
        name = variant.label.replace("/", "-")
        settings["database_url"] = f"sqlite+aiosqlite:///{directory / f'{name}-{suffix}-{count}.db'}"
    if variant.redis_prefix is not None:
        settings.update(redis_url=REDIS_URL, redis_key_prefix=variant.redis_prefix + f"{suffix}{count}:")
    done = subprocess.run(
        [*runner, sys.executable, "-c", _CPU, orjson.dumps({"settings": settings, "count": count}).decode()],
        env=variant.env(directory),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the in-process run of {variant.label} failed:\n{done.stderr[-3000:]}")
    return done


def cpu_per_command(variant: Variant, directory: Path, count: int) -> dict[str, list[float]]:
    """CPU and wall milliseconds per ping and per execute of the whole server stack in one process,
    called in-process (ASGI, no sockets, no HTTP client) with a fake executor answering in the same
    loop: what one command costs the server, steadier than latency on a shared machine."""
    done = in_process_run(variant, directory, count)
    figures: dict[str, list[float]] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return figures


def instructions_per_command(variant: Variant, directory: Path, counts: tuple[int, int]) -> float:
    """Instructions (callgrind's count) per command of the in-process script: the difference
    between ``counts[1]`` and ``counts[0]`` pings and executes, so start-up cancels out. The one
    figure the machine's noise does not move; it leaves out uvicorn and the sockets."""
    totals = []
    for count in counts:
        runner = ("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null")
        done = in_process_run(variant, directory, count, runner, suffix="instructions")
        found = re.search(r"Collected : (\d+)", done.stderr)
        if found is None:
            raise SystemExit(f"callgrind printed no count for {variant.label}:\n{done.stderr[-2000:]}")
        totals.append(int(found.group(1)))
    # Each count is that many pings and as many executes.
    return (totals[1] - totals[0]) / (2 * (counts[1] - counts[0]))


def bootstrap(variant: Variant, directory: Path, fleet: list[str] | None = None) -> Any:
    """Migrate the variant's database and register clusters, with the variant's own code (a
    baseline tree may not know this tree's migrations)."""
    settings: dict[str, Any] = {"database_url": variant.database_url, "jwt_secret": "gateway-bench"}
    if variant.redis_prefix is not None:
        settings.update(redis_url=REDIS_URL, redis_key_prefix=variant.redis_prefix)
    order = {"settings": settings, "cluster": CLUSTER_ID, "fleet": fleet}
    done = subprocess.run(
        [sys.executable, "-c", _BOOTSTRAP, orjson.dumps(order).decode()],
        env=variant.env(directory),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"bootstrap of {variant.label} failed:\n{done.stderr}")
    return orjson.loads(done.stdout.strip().splitlines()[-1])


def start_server(variant: Variant, directory: Path, stack: Stack, profile_dir: Path | None) -> None:
    variant.port = free_port()
    name = variant.label.replace("/", "-")
    runner = [sys.executable]
    if profile_dir is not None:
        runner += ["-m", "cProfile", "-o", str(profile_dir / f"{name}.prof")]
    env = {
        **variant.env(directory),
        "PILOTHOUSE_DATABASE_URL": variant.database_url,
        "PILOTHOUSE_JWT_SECRET": "gateway-bench",
        "PILOTHOUSE_RATE_LIMITS__ENABLED": "false",
        "PILOTHOUSE_LOG_LEVEL": "WARNING",
    }
    if variant.redis_prefix is not None:
        env["PILOTHOUSE_REDIS_URL"] = REDIS_URL
        env["PILOTHOUSE_REDIS_KEY_PREFIX"] = variant.redis_prefix
    variant.server = stack.spawn(
        f"server-{name}",
        [*runner, "-m", "pilothouse.cli.main", "serve", "--host", "127.0.0.1", "--port", str(variant.port)],
        env,
    )
    if profile_dir is not None:
        stack.interrupt.add(variant.server.pid)


def start_executor(
    variant: Variant, directory: Path, stack: Stack, kubeconfig: Path, profile_dir: Path | None = None
) -> None:
    name = variant.label.replace("/", "-")
    runner = [sys.executable]
    if profile_dir is not None:
        runner += ["-m", "cProfile", "-o", str(profile_dir / f"executor-{name}.prof")]
    variant.executor = stack.spawn(
        f"executor-{name}",
        [
            *runner,
            "-m",
            "pilothouse.executor",
            "--server",
            variant.url,
            "--cluster-id",
            CLUSTER_ID,
            "--kubeconfig",
            str(kubeconfig),
            "--log-level",
            "WARNING",
        ],
        {**variant.env(directory), "PILOTHOUSE_EXECUTOR_TOKEN": variant.executor_token},
    )


# --- a client that costs next to nothing --------------------------------------------------------


class BlockingHttp:
    """One keep-alive HTTP/1.1 connection on a blocking socket, one request at a time.

    Reads exactly what uvicorn sends: a status line, headers and a Content-Length or chunked body.
    """

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        fixed = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._fixed = f"Host: {host}:{port}\r\n{fixed}".encode()
        self._sock: socket.socket | None = None
        self._file: Any = None

    def request(self, method: str, target: str, body: Any = None) -> tuple[int, Any]:
        try:
            return self._exchange(method, target, body)
        except (OSError, ValueError):
            self.close()
            raise

    def _exchange(self, method: str, target: str, body: Any) -> tuple[int, Any]:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port))
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._file = self._sock.makefile("rb")
        payload = orjson.dumps(body) if body is not None else b""
        head = f"{method} {target} HTTP/1.1\r\nContent-Length: {len(payload)}\r\n".encode()
        content_type = b"Content-Type: application/json\r\n" if body is not None else b""
        self._sock.sendall(head + content_type + self._fixed + b"\r\n" + payload)
        status_line = self._file.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        fields = {}
        while (line := self._file.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        if fields.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while size := int(self._file.readline().split(b";")[0], 16):
                data += self._file.read(size + 2)[:-2]
            self._file.readline()
        else:
            data = self._file.read(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, orjson.loads(data) if data else None

    def close(self) -> None:
        if self._sock is not None:
            self._file.close()
            self._sock.close()
        self._sock = self._file = None


# --- 1 and 2: one executor per variant ----------------------------------------------------------


def execute_against_kubectl(
    clients: dict[str, BlockingHttp], env: dict[str, str], runs: int
) -> tuple[dict[str, list[float]], list[float], dict[str, list[float]]]:
    """Milliseconds per execute (by variant), per direct kubectl, and kubectl's time inside each
    variant's executor."""
    body = {"cluster_id": CLUSTER_ID, "command_type": "get", "args": ["pods", "-A"]}
    gateway: dict[str, list[float]] = {label: [] for label in clients}
    inside: dict[str, list[float]] = {label: [] for label in clients}
    direct: list[float] = []

    def through(label: str, record: bool) -> None:
        started = time.perf_counter()
        status, answer = clients[label].request("POST", "/debug/execute", body)
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200 or answer["status"] != "success":
            print(f"{label}: execute failed: {status} {answer}", file=sys.stderr)
            FAILURES[label] = FAILURES.get(label, 0) + 1
            return
        if record:
            gateway[label].append(elapsed)
            inside[label].append(float(answer["execution_time_ms"]))

    def directly(record: bool) -> None:
        started = time.perf_counter()
        subprocess.run([KUBECTL, "get", "pods", "-A"], capture_output=True, env=env, check=True)
        if record:
            direct.append((time.perf_counter() - started) * 1000)

    labels = list(clients)
    for index in range(WARM_UP + runs):
        record = index >= WARM_UP
        # Rotate the order every round, so that no side always follows another.
        steps: list[str | None] = [None, *labels]
        shift = index % len(steps)
        for step in steps[shift:] + steps[:shift]:
            if step is None:
                directly(record)
            else:
                through(step, record)
    return gateway, direct, inside


def pings(clients: dict[str, BlockingHttp], count: int) -> dict[str, tuple[list[float], list[float]]]:
    """Milliseconds per ping as the client measures it and as the server reports it, by variant."""
    measured: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label in clients}
    labels = list(clients)
    for index in range(PING_WARM_UP + count):
        shift = index % len(labels)
        for label in labels[shift:] + labels[:shift]:
            started = time.perf_counter()
            status, answer = clients[label].request("POST", f"/clusters/{CLUSTER_ID}/ping")
            elapsed = (time.perf_counter() - started) * 1000
            if status != 200:
                # Counted, not fatal: a lost command is a finding, not a reason to stop.
                print(f"{label}: ping failed: {status} {answer}", file=sys.stderr)
                FAILURES[label] = FAILURES.get(label, 0) + 1
                continue
            if index >= PING_WARM_UP:
                measured[label][0].append(elapsed)
                measured[label][1].append(float(answer["round_trip_ms"]))
    return measured


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
    try:
        # Optional: the client's own overhead, as low as it goes.
        import uvloop

        uvloop.run(worker.serve(conn))
    except ImportError:
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
    return f"  {name:52} {figures}  {extra:26} {goal}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--backends", default="sqlite,postgres", help=f"comma-separated: {', '.join(BACKENDS)}"
    )
    parser.add_argument("--baseline-src", type=Path, help="also serve every backend from this source tree")
    parser.add_argument(
        "--src", type=Path, help="serve the main variants from this source tree (default: this one)"
    )
    parser.add_argument(
        "--phases",
        default="cpu,execute,ping,fleet",
        help="comma-separated: cpu, instructions (needs valgrind), execute, ping, fleet",
    )
    parser.add_argument("--runs", type=int, default=200, help="execute/kubectl rounds measured")
    parser.add_argument("--pings", type=int, default=1000, help="pings measured per variant")
    parser.add_argument("--executors", type=int, default=1000, help="fake executors in the fleet")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of sustained load")
    parser.add_argument("--submitters", type=int, default=200, help="concurrent sync callers (all processes)")
    parser.add_argument("--client-processes", type=int, default=1, help="processes sharing the fleet")
    parser.add_argument("--scenario", default="healthy")
    parser.add_argument("--profile-dir", type=Path, help="run each server under cProfile, profiles here")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (logs, databases)")
    args = parser.parse_args()
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backends: {', '.join(unknown)}")
    phases = {name.strip() for name in args.phases.split(",") if name.strip()}
    configure_logging("WARNING", "console", stream=sys.stderr)
    command_line = " ".join(
        shlex.quote(part) for part in [".venv/bin/python", "bench/gateway.py", *sys.argv[1:]]
    )

    # Every fake executor holds a connection, on both sides.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 4 * args.executors + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if args.profile_dir is not None:
        args.profile_dir = args.profile_dir.resolve()
        args.profile_dir.mkdir(parents=True, exist_ok=True)

    variants = make_variants(
        backends,
        args.baseline_src.resolve() if args.baseline_src else None,
        args.src.resolve() if args.src else None,
    )
    with tempfile.TemporaryDirectory(prefix="pilothouse-gateway-bench-") as tmp:
        directory = Path(tmp)
        if args.keep is not None:
            directory = args.keep.resolve()
            directory.mkdir(parents=True, exist_ok=True)
        stack = Stack(directory)
        try:
            report = run(args, phases, variants, directory, stack)
        finally:
            stack.stop_all()
            for variant in variants:
                release_storage(variant)
    print()
    print(
        f"Pilothouse gateway bench: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    print(f"command: {command_line}")
    for variant in variants:
        print(f"  {variant.label}: {'this tree' if variant.src is None else variant.src}")
    print(f"  {'':52} {'p50 ms':>9} {'p99 ms':>9}")
    for line in report:
        print(line)


def run(
    args: argparse.Namespace, phases: set[str], variants: list[Variant], directory: Path, stack: Stack
) -> list[str]:
    kubeconfig = directory / "kubeconfig"
    sim_port = free_port()
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

    for variant in variants:
        prepare_storage(variant, directory)
        variant.api_key, variant.executor_token = bootstrap(variant, directory)
        start_server(variant, directory, stack, args.profile_dir)
    for variant in variants:
        wait_for(lambda v=variant: httpx.get(f"{v.url}/health").status_code == 200, 60, f"{variant.label}")

    report: list[str] = []
    if "cpu" in phases:
        print("cpu: per command, in-process", file=sys.stderr)
        report.append("server cost per command, in-process (ASGI calls, fake executor in the same loop)")
        for round_ in range(2):
            for variant in variants:
                figures = cpu_per_command(variant, directory, args.pings)
                for kind in ("ping", "execute"):
                    cpu, wall = figures[kind]
                    report.append(
                        row(
                            f"{variant.label}: {kind}, run {round_ + 1}",
                            None,
                            f"CPU {cpu:.2f} ms, wall {wall:.2f} ms",
                        )
                    )
    if "instructions" in phases:
        if shutil.which("valgrind") is None:
            raise SystemExit("the instructions phase needs valgrind (apt-get install valgrind)")
        print("instructions: per command, in-process, under callgrind", file=sys.stderr)
        report.append("instructions per command, in-process under callgrind (50 and 150 of each kind)")
        for variant in variants:
            per_command = instructions_per_command(variant, directory, INSTRUCTION_COUNTS)
            report.append(row(f"{variant.label}: ping and execute", None, f"{per_command / 1e6:.2f} M"))
    if phases & {"execute", "ping"}:
        for variant in variants:
            start_executor(variant, directory, stack, kubeconfig, args.profile_dir)
        clients: dict[str, BlockingHttp] = {}
        for variant in variants:
            with httpx.Client(base_url=variant.url, headers={"X-API-Key": variant.api_key}) as client:

                def executor_ready(client: httpx.Client = client) -> bool:
                    status = client.get(f"/clusters/{CLUSTER_ID}/status").json()
                    return bool(status["connected"] and status["discovery"])

                wait_for(executor_ready, 60, f"the executor of {variant.label}")
            clients[variant.label] = BlockingHttp("127.0.0.1", variant.port, {"X-API-Key": variant.api_key})

        if "execute" in phases:
            print(f"execute vs kubectl: {args.runs} rounds after {WARM_UP} warm-up", file=sys.stderr)
            gateway, direct, inside = execute_against_kubectl(clients, env, args.runs)
            report.append("one executor, `get pods -A` against the simulated cluster, interleaved")
            report.append(row("kubectl directly", direct, f"n={len(direct)}"))
            for label, values in gateway.items():
                ratio = statistics.median(values) / statistics.median(direct)
                report.append(
                    row(f"{label}: POST /debug/execute", values, f"p50 ratio {ratio:.3f}", "goal <= 1.15")
                )
                report.append(row(f"{label}:   kubectl inside the executor", inside[label]))
        if "ping" in phases:
            print(f"ping: {args.pings} per variant after {PING_WARM_UP} warm-up", file=sys.stderr)
            report.append("executor round trip without kubectl, interleaved")
            for label, (client_ms, server_ms) in pings(clients, args.pings).items():
                report.append(
                    row(
                        f"{label}: POST /clusters/{{id}}/ping (client)",
                        client_ms,
                        f"n={len(client_ms)}",
                        "goal p50 < 3, p99 < 15",
                    )
                )
                report.append(row(f"{label}:   round_trip_ms (server reports)", server_ms))
        for label, failures in FAILURES.items():
            report.append(row(f"{label}: failed executes/pings (408, 5xx)", None, str(failures)))
        for http in clients.values():
            http.close()
        for variant in variants:
            if variant.executor is not None:
                stack.stop(variant.executor)

    if "fleet" in phases:
        fleet_ids = [f"fleet-{index:05d}" for index in range(args.executors)]
        for variant in variants:
            print(
                f"fleet on {variant.label}: {args.executors} executors in "
                f"{args.client_processes} client process(es)",
                file=sys.stderr,
            )
            tokens = bootstrap(variant, directory, fleet_ids)
            assert variant.server is not None
            with httpx.Client(
                base_url=variant.url, headers={"X-API-Key": variant.api_key}, timeout=60
            ) as client:
                report.extend(
                    fleet(
                        args,
                        variant,
                        [(cid, tokens[cid]) for cid in fleet_ids],
                        variant.server,
                        client,
                    )
                )
    return report


def fleet(
    args: argparse.Namespace,
    variant: Variant,
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
            args=(child, FleetWorker("127.0.0.1", variant.port, variant.api_key, mine, submitters)),
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
    label = variant.label
    return [
        f"fleet on {label}: {len(clusters)} fake executors long-polling (wait={POLL_WAIT_SECONDS}), "
        f"{processes} client process(es), one keep-alive connection each",
        row(f"{label}: wake-up latency, one command at a time", quiet, f"n={len(quiet)}", "goal p99 < 10"),
        row(f"{label}: wake-up latency, {args.submitters} sync submitters", wake, f"n={len(wake)}"),
        row(
            f"{label}: commands/s sustained over {wall:.1f} s",
            None,
            f"{completed / wall:,.0f}/s",
            "goal >= 1,000",
        ),
        row(f"{label}: answers by status (0 = transport error)", None, str(dict(sorted(statuses.items())))),
        row(f"{label}: executor poll errors", None, str(poll_errors)),
        row(
            f"{label}: server RSS idle fleet / loaded (peak)",
            None,
            f"{rss_idle:.0f} / {rss:.0f} ({hwm:.0f}) MiB",
        ),
        row(f"{label}: server CPU under load (% of one core)", None, f"{100 * server_cpu:.0f}%"),
        row(f"{label}: client CPU under load, per process", None, client_cpu),
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
