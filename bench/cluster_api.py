"""Benchmark of the Cluster API (issue 4) on a simulated cluster of 1,000 nodes and 10,000 pods.

    .venv/bin/python bench/cluster_api.py [--quick] [--nodes 1000] [--pods-per-node 10]
                                          [--runs 20] [--list-rounds 30] [--subscribers 200]
                                          [--configmaps 50] [--interval-ms 50]
                                          [--profile-dir DIR] [--keep DIR]

Everything runs in its own process, as in production: ``pilothouse sim`` with a generated
scenario (``--nodes`` nodes each running one Deployment of ``--pods-per-node`` pods, the
Deployments split between two namespaces, so with the defaults 5,000 pods in each; see
``scenario`` for why pods name their node), ``pilothouse serve`` (a temporary SQLite
database, rate limits raised out of the way but still on the path) and ``pilothouse executor``.
The same simulated cluster is registered twice: ``direct`` (the server uses the kubeconfig
itself) and ``tunnel`` (through the executor's ``/agent/stream`` WebSocket).

1. Topology: ``GET /api/v1/topology`` (defaults: depth 3, metrics on) through Direct, ``--runs``
   times after 2 warm-ups, interleaved with a reference: all pods and nodes read straight from
   the sim (what building the answer from fresh lists costs at least); then ``depth=1`` and
   ``depth=5``; then a few runs through Tunnel for comparison. Goal: under 500 ms.
2. List: ``GET /api/v1/resources/Pod?namespace=load-a&limit=500`` (and ``limit=50``) on a
   namespace of 5,000 pods, Direct, Tunnel and the reference (the namespace's pods read straight
   from the sim) interleaved, the order rotating every round, so all see the same noise; with
   the CPU each costs the server, executor and sim (from /proc). ``total_count`` must be 5,000.
   Goal: Tunnel's median within 1.3x of Direct's.
3. Watch fan-out: ``--subscribers`` WebSockets (``/api/v1/ws``, all in this process, one asyncio
   loop) subscribe to ConfigMaps of an empty namespace; then ``--configmaps`` ConfigMaps are
   created through ``POST /api/v1/resources/ConfigMap``, one every ``--interval-ms``, from the
   same loop. Delivery latency is the subscriber's receive time minus the time the create
   request was *sent* (one monotonic clock, one process: no skew): an upper bound, as it
   includes the whole create request (auth, the sim's write, the audit record). Minus the time
   the create's *response* arrived is a lower bound (negative when the event beats the
   response). Both are printed with the goal checked against each, and for diagnosis: server
   publish -> received (the message's ``timestamp``, set by the server on the same host's wall
   clock, against this process's), the spread from first to last subscriber per ConfigMap, and
   the create's own latency with and without subscribers. Every subscriber must get every
   ConfigMap. Through Direct, then through Tunnel (creates and subscriptions both through the
   tunnel). Goal: p99 under 100 ms.

Finally the RSS of each process. ``--quick``: 100 nodes, 1,000 pods, 50 subscribers, for a
smoke run. ``--profile-dir`` runs the server and the executor under cProfile and writes
``server.prof`` and ``executor.prof`` there.
No assertions: it prints the figures and the command line that produced them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets
import yaml
from websockets.asyncio.client import ClientConnection, connect

from pilothouse.kube.listing import LIST_CHUNK

PILOTHOUSE = [sys.executable, "-m", "pilothouse.cli.main"]
LIST_NAMESPACES = ("load-a", "load-b")
WATCH_NAMESPACE = {"direct": "watch-direct", "tunnel": "watch-tunnel"}
TOPOLOGY_WARM_UP = 2
TUNNEL_TOPOLOGY_RUNS = 5
LIST_WARM_UP = 3
QUIET_CREATES = 10
SERVICES_PER_NAMESPACE = 10
BENCH_KEY_NAME = "cluster-api-bench"
# Raised, not disabled, so the limiter's cost stays on the measured path.
RAISED_LIMITS = (
    "API_REQUESTS_PER_KEY_PER_MINUTE",
    "CLUSTER_READ_PER_MINUTE",
    "CLUSTER_WRITE_PER_MINUTE",
    "OTHER_REQUESTS_PER_MINUTE",
)


# --- the simulated cluster ----------------------------------------------------------------------


def scenario(nodes: int, replicas: int) -> dict[str, Any]:
    """``nodes`` nodes, each running one Deployment of ``replicas`` pods; the Deployments split
    evenly between LIST_NAMESPACES; SERVICES_PER_NAMESPACE Services in each, selecting a share of
    its Deployments' pods; the (empty) watch namespaces.

    Each Deployment's template names its node (``spec.nodeName``), so the sim's scheduler skips
    its pods: it filters and scores every node for every pod, which for 10,000 pods on 1,000
    nodes takes longer than the rest of the run together. Services are few for a similar reason:
    the sim's endpoints controller matches every pod event against every Service of the
    namespace. The topology the server builds is the same either way.
    """
    names = [*LIST_NAMESPACES, *WATCH_NAMESPACE.values()]
    manifests: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in names
    ]
    per_namespace = nodes // len(LIST_NAMESPACES)
    for space, namespace in enumerate(LIST_NAMESPACES):
        for index in range(per_namespace):
            name = f"app-{index:03d}"
            share = index * SERVICES_PER_NAMESPACE // per_namespace
            group = f"group-{share:02d}"
            labels = {"app": name}
            manifests.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": name, "namespace": namespace, "labels": labels},
                    "spec": {
                        "replicas": replicas,
                        "selector": {"matchLabels": labels},
                        "template": {
                            "metadata": {"labels": {**labels, "group": group}},
                            "spec": {
                                "nodeName": f"node-{space * per_namespace + index:04d}",
                                "containers": [
                                    {
                                        "name": "main",
                                        "image": "nginx:1.27",
                                        "ports": [{"containerPort": 80}],
                                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                                    }
                                ],
                            },
                        },
                    },
                }
            )
            if index == 0 or share != (index - 1) * SERVICES_PER_NAMESPACE // per_namespace:
                manifests.append(
                    {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "metadata": {"name": group, "namespace": namespace},
                        "spec": {"selector": {"group": group}, "ports": [{"port": 80, "targetPort": 80}]},
                    }
                )
    return {
        "name": "cluster-api-bench",
        "description": "generated for bench/cluster_api.py",
        "nodes": [
            {"name": f"node-{i:04d}", "cpu": "32", "memory": "128Gi", "pods": 110} for i in range(nodes)
        ],
        "registry": {"pullSeconds": 0.5},
        "manifests": manifests,
    }


# --- processes ----------------------------------------------------------------------------------
# free_port, memory_mib, cpu_seconds, percentile, wait_for and the process Stack have near twins
# in bench/gateway.py and bench/sim.py: candidates for a shared bench/_common.py.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB."""
    values = {"VmRSS": float("nan"), "VmHWM": float("nan")}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in values:
            values[name] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


@dataclass
class Stack:
    """The processes of one run, each logging to ``<directory>/<name>.log``."""

    directory: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    interrupt: set[str] = field(default_factory=set)  # stopped with SIGINT (cProfile writes)

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.directory / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.processes[name] = process
        return process

    def check(self, name: str) -> None:
        process = self.processes[name]
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.directory / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self, name: str) -> None:
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(signal.SIGINT if name in self.interrupt else signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop_all(self) -> None:
        for name in reversed(list(self.processes)):
            self.stop(name)


def wait_for(check: Callable[[], bool], timeout: float, what: str, stack: Stack, watched: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        stack.check(watched)
        try:
            if check():
                return
        except (httpx.HTTPError, OSError, KeyError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}:\n{stack.log_tail(watched)}")
        time.sleep(0.5)


def cli(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run([*PILOTHOUSE, *argv], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"pilothouse {' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


# --- figures ------------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def row(name: str, values: list[float], extra: str = "", goal: str = "") -> str:
    figures = (
        f"{statistics.median(values):9.1f} {percentile(values, 0.95):9.1f} {percentile(values, 0.99):9.1f}"
    )
    return f"  {name:50} {figures}  {extra:24} {goal}".rstrip()


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


# --- phases -------------------------------------------------------------------------------------


def timed_get(client: httpx.Client, url: str, cluster: str, params: dict[str, Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    response = client.get(url, params=params, headers={"X-Kubeconfig-Context": cluster})
    content = response.content
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {url} {params} on {cluster}: {response.status_code} {content[:500]!r}")
    return elapsed, orjson.loads(content)


def sim_list(sim: httpx.Client, path: str) -> float:
    """Milliseconds to read ``path`` from the sim as the Direct adapter does: chunks of
    LIST_CHUNK items following ``continue``, each body parsed. What an answer built from that
    list costs at least, unless the server keeps the list (a watch cache)."""
    started = time.perf_counter()
    token: str | None = None
    while True:
        params: dict[str, Any] = {"limit": LIST_CHUNK}
        if token:
            params["continue"] = token
        response = sim.get(path, params=params)
        response.raise_for_status()
        token = orjson.loads(response.content)["metadata"].get("continue")
        if not token:
            return (time.perf_counter() - started) * 1000


def topology_phase(client: httpx.Client, sim: httpx.Client, runs: int) -> list[str]:
    report = ["topology: GET /api/v1/topology"]
    for _ in range(TOPOLOGY_WARM_UP):
        timed_get(client, "/api/v1/topology", "direct", {})
    samples: list[float] = []
    reference: list[float] = []
    body: Any = None
    for index in range(runs):
        # Interleaved with the reference, the order alternating, so both see the same noise.
        if index % 2:
            reference.append(sim_list(sim, "/api/v1/pods") + sim_list(sim, "/api/v1/nodes"))
        elapsed, body = timed_get(client, "/api/v1/topology", "direct", {})
        samples.append(elapsed)
        if not index % 2:
            reference.append(sim_list(sim, "/api/v1/pods") + sim_list(sim, "/api/v1/nodes"))
    summary = body["cluster"]
    size = len(orjson.dumps(body)) / 1e6
    report.append(
        row(
            "direct, defaults (depth 3, metrics)",
            samples,
            f"n={len(samples)}, {size:.1f} MB",
            f"goal < 500 ms: {verdict(statistics.median(samples) < 500)}",
        )
    )
    report.append(
        f"    (answer: {summary['total_nodes']} nodes, {summary['total_pods']} pods, "
        f"{summary['total_services']} services, {len(body['namespaces'])} namespaces)"
    )
    report.append(row("  reference: all pods + nodes read from the sim", reference, f"n={len(reference)}"))
    shallow = [timed_get(client, "/api/v1/topology", "direct", {"depth": 1})[0] for _ in range(runs // 2)]
    report.append(row("direct, depth=1", shallow, f"n={len(shallow)}"))
    deepest = [timed_get(client, "/api/v1/topology", "direct", {"depth": 5})[0] for _ in range(3)]
    report.append(row("direct, depth=5", deepest, f"n={len(deepest)}"))
    timed_get(client, "/api/v1/topology", "tunnel", {})
    tunnel = [timed_get(client, "/api/v1/topology", "tunnel", {})[0] for _ in range(TUNNEL_TOPOLOGY_RUNS)]
    report.append(row("tunnel, defaults", tunnel, f"n={len(tunnel)}"))
    return report


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, from /proc (clock ticks: 10 ms granularity)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def list_phase(
    client: httpx.Client, sim: httpx.Client, rounds: int, expected: int, pids: dict[str, int]
) -> list[str]:
    """Direct, Tunnel and the reference (the sim read straight) interleaved. Besides latency,
    the CPU each leg costs the server, executor and sim together: on a loaded machine latency
    follows CPU work, so this says where Tunnel's extra time goes and is steadier than latency."""
    namespace = LIST_NAMESPACES[0]
    report = [f"list: GET /api/v1/resources/Pod?namespace={namespace} ({expected} pods), interleaved"]
    legs = ("direct", "tunnel", "reference")

    def cpu() -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in pids.items()}

    for limit in (500, 50):
        params = {"namespace": namespace, "limit": limit}
        samples: dict[str, list[float]] = {leg: [] for leg in legs}
        spent: dict[str, dict[str, float]] = {leg: dict.fromkeys(pids, 0.0) for leg in legs}
        for index in range(LIST_WARM_UP + rounds):
            # The order rotates every round, so no leg always follows another.
            for leg in legs[index % 3 :] + legs[: index % 3]:
                before = cpu()
                if leg == "reference":
                    elapsed = sim_list(sim, f"/api/v1/namespaces/{namespace}/pods")
                else:
                    elapsed, body = timed_get(client, "/api/v1/resources/Pod", leg, params)
                    if body["total_count"] != expected or len(body["items"]) != limit:
                        raise SystemExit(
                            f"{leg} limit={limit}: total_count {body['total_count']}, "
                            f"{len(body['items'])} items; expected {expected} and {limit}"
                        )
                after = cpu()
                if index >= LIST_WARM_UP:
                    samples[leg].append(elapsed)
                    for name in pids:
                        spent[leg][name] += after[name] - before[name]
        ratio = statistics.median(samples["tunnel"]) / statistics.median(samples["direct"])
        for leg in legs:
            extra, goal = f"n={rounds}", ""
            if leg == "tunnel":
                extra, goal = f"median ratio {ratio:.2f}", f"goal <= 1.3: {verdict(ratio <= 1.3)}"
            label = f"{leg}, limit={limit}" if leg != "reference" else "  reference: the sim read straight"
            report.append(row(label, samples[leg], extra, goal))
            shares = ", ".join(f"{name} {1000 * spent[leg][name] / rounds:.0f}" for name in pids)
            report.append(f"    CPU ms per request: {shares}")
    report.append(
        f"    (total_count == {expected} on every answer; the reference reads the namespace's pods "
        f"from the sim as the Direct adapter does, {LIST_CHUNK} at a time, and parses them)"
    )
    return report


@dataclass
class FanOut:
    """What one fan-out run saw. Times are ``time.perf_counter()`` of this process, except
    ``lags``: this host's wall clock at receipt minus the message's ``timestamp``, which the
    server (same host, same clock) sets when it publishes the event to a subscriber."""

    subscribers: int
    expected: int
    sent: dict[str, float] = field(default_factory=dict)
    returned: dict[str, float] = field(default_factory=dict)
    received: list[tuple[int, str, float]] = field(default_factory=list)  # subscriber, name, when
    stamps: list[tuple[float, str]] = field(default_factory=list)  # wall clock, server timestamp
    quiet_creates: list[float] = field(default_factory=list)
    closes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    subscribed: int = 0
    all_subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    all_received: asyncio.Event = field(default_factory=asyncio.Event)

    def lags(self) -> list[float]:
        return [(wall - datetime.fromisoformat(stamp).timestamp()) * 1000 for wall, stamp in self.stamps]


async def subscriber(
    index: int, url: str, namespace: str, prefix: str, fan: FanOut, gate: asyncio.Semaphore
) -> None:
    """One WebSocket: subscribe, then stamp every ADDED ConfigMap of ``prefix`` on arrival."""
    async with gate:
        socket_ = await connect(url, max_size=None, open_timeout=60)
        request = {
            "action": "subscribe",
            "resource_kind": "ConfigMap",
            "namespace": namespace,
            "subscription_id": "s",
        }
        await socket_.send(orjson.dumps(request).decode())
        while (message := orjson.loads(await socket_.recv()))["type"] != "SUBSCRIBED":
            if message["type"] == "ERROR":
                raise RuntimeError(f"subscribe refused: {message.get('error')}")
    fan.subscribed += 1
    if fan.subscribed == fan.subscribers:
        fan.all_subscribed.set()
    try:
        await receive(index, socket_, prefix, fan)
    finally:
        await socket_.close()


async def receive(index: int, socket_: ClientConnection, prefix: str, fan: FanOut) -> None:
    try:
        while True:
            raw = await socket_.recv()
            now, wall = time.perf_counter(), time.time()
            message = orjson.loads(raw)
            if message["type"] == "ADDED":
                name = message["resource"]["metadata"]["name"]
                if name.startswith(prefix):
                    fan.received.append((index, name, now))
                    fan.stamps.append((wall, message["timestamp"]))
                    if len(fan.received) >= fan.expected:
                        fan.all_received.set()
            elif message["type"] == "ERROR":
                fan.errors.append(str(message.get("error")))
    except websockets.ConnectionClosed as closed:
        frame = closed.rcvd
        fan.closes.append(f"{frame.code} {frame.reason}" if frame else "closed without a frame")


async def create_configmaps(
    client: httpx.AsyncClient, namespace: str, prefix: str, count: int, interval: float, fan: FanOut
) -> None:
    """``count`` ConfigMaps, one every ``interval`` seconds (or back to back if a create takes
    longer), recording when each request was sent and when its answer came back."""
    start = time.perf_counter()
    for index in range(count):
        await asyncio.sleep(max(0.0, start + index * interval - time.perf_counter()))
        name = f"{prefix}{index:03d}"
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"index": str(index)},
        }
        fan.sent[name] = time.perf_counter()
        response = await client.post("/api/v1/resources/ConfigMap", json=body)
        fan.returned[name] = time.perf_counter()
        if response.status_code != 201:
            raise SystemExit(f"create {name}: {response.status_code} {response.text[:300]}")


async def fan_out(
    base: str, key: str, cluster: str, subscribers: int, configmaps: int, interval: float
) -> tuple[FanOut, float]:
    namespace = WATCH_NAMESPACE[cluster]
    prefix = f"fan-{cluster}-"
    url = f"{base.replace('http://', 'ws://')}/api/v1/ws?token={key}&cluster={cluster}"
    fan = FanOut(subscribers, subscribers * configmaps)
    headers = {"X-API-Key": key, "X-Kubeconfig-Context": cluster}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        # The same creates with nobody watching: what a create costs by itself (and a warm-up).
        quiet = FanOut(0, 0)
        await create_configmaps(client, namespace, f"quiet-{cluster}-", QUIET_CREATES, interval, quiet)
        fan.quiet_creates = [(quiet.returned[name] - sent) * 1000 for name, sent in quiet.sent.items()]

        gate = asyncio.Semaphore(20)  # handshakes at once
        connect_started = time.perf_counter()
        tasks = [
            asyncio.create_task(subscriber(index, url, namespace, prefix, fan, gate))
            for index in range(subscribers)
        ]
        try:
            await asyncio.wait_for(fan.all_subscribed.wait(), 120)
        except TimeoutError:
            failed = [task.exception() for task in tasks if task.done() and not task.cancelled()]
            raise SystemExit(
                f"{fan.subscribed}/{subscribers} subscribed after 120 s; failures: {failed[:3]}"
            ) from None
        connect_seconds = time.perf_counter() - connect_started
        await asyncio.sleep(1)  # the initial state (the quiet ConfigMaps) delivered and done with
        await create_configmaps(client, namespace, prefix, configmaps, interval, fan)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(fan.all_received.wait(), 30)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return fan, connect_seconds


def watch_phase(
    base: str, key: str, cluster: str, subscribers: int, configmaps: int, interval_ms: float
) -> list[str]:
    fan, connect_seconds = asyncio.run(
        fan_out(base, key, cluster, subscribers, configmaps, interval_ms / 1000)
    )
    expected = subscribers * configmaps
    from_sent = [(at - fan.sent[name]) * 1000 for _, name, at in fan.received]
    from_returned = [(at - fan.returned[name]) * 1000 for _, name, at in fan.received]
    creates = [(fan.returned[name] - fan.sent[name]) * 1000 for name in fan.sent]
    # How long the server takes to reach every subscriber with one event.
    by_name: dict[str, list[float]] = {}
    for _, name, at in fan.received:
        by_name.setdefault(name, []).append(at)
    spread = [(max(times) - min(times)) * 1000 for times in by_name.values()]
    unique = len({(index, name) for index, name, _ in fan.received})
    complete = unique == expected
    upper, lower = percentile(from_sent, 0.99), percentile(from_returned, 0.99)
    report = [
        f"watch fan-out through {cluster}: {subscribers} WebSockets (connected and subscribed in "
        f"{connect_seconds:.1f} s), {configmaps} ConfigMaps created one every {interval_ms:.0f} ms",
        row(
            f"{cluster}: delivery latency from create sent",
            from_sent,
            f"{len(fan.received)}/{expected} delivered",
            f"goal p99 < 100 ms: {verdict(upper < 100 and complete)}",
        ),
        row(
            f"{cluster}: delivery latency from create returned",
            from_returned,
            "",
            f"goal p99 < 100 ms: {verdict(lower < 100 and complete)}",
        ),
        row(f"{cluster}:   server publish -> received (wall clock)", fan.lags()),
        row(f"{cluster}:   first to last subscriber, per ConfigMap", spread, f"n={len(spread)}"),
        row(f"{cluster}: the create itself (POST), while watched", creates, f"n={len(creates)}"),
        row(
            f"{cluster}: the create itself, nobody watching", fan.quiet_creates, f"n={len(fan.quiet_creates)}"
        ),
    ]
    if unique != len(fan.received):
        report.append(f"    duplicates: {len(fan.received) - unique}")
    if fan.closes or fan.errors:
        report.append(f"    closes: {fan.closes[:3]} errors: {fan.errors[:3]}")
    return report


# --- the run ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100 nodes, 1,000 pods, 50 subscribers")
    parser.add_argument("--nodes", type=int, help="default 1000 (quick: 100); even")
    parser.add_argument("--pods-per-node", type=int, default=10, help="one Deployment per node")
    parser.add_argument("--runs", type=int, default=20, help="topology requests measured")
    parser.add_argument("--list-rounds", type=int, default=30, help="Direct/Tunnel list pairs measured")
    parser.add_argument("--subscribers", type=int, help="default 200 (quick: 50)")
    parser.add_argument("--configmaps", type=int, default=50)
    parser.add_argument("--interval-ms", type=float, default=50.0)
    parser.add_argument("--no-tunnel-watch", action="store_true", help="fan-out through Direct only")
    parser.add_argument("--profile-dir", type=Path, help="cProfile server and executor, *.prof here")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (logs, database)")
    args = parser.parse_args()
    args.nodes = args.nodes or (100 if args.quick else 1000)
    args.subscribers = args.subscribers or (50 if args.quick else 200)
    command_line = " ".join(
        shlex.quote(part) for part in [".venv/bin/python", "bench/cluster_api.py", *sys.argv[1:]]
    )
    if args.profile_dir is not None:
        args.profile_dir = args.profile_dir.resolve()
        args.profile_dir.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pilothouse-cluster-api-bench-") as tmp:
        directory = Path(tmp)
        if args.keep is not None:
            directory = args.keep.resolve()
            directory.mkdir(parents=True, exist_ok=True)
        stack = Stack(directory)
        try:
            report = run(args, directory, stack)
        finally:
            stack.stop_all()
    print()
    print(
        f"Pilothouse Cluster API bench: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, whole run {time.perf_counter() - started:.0f} s"
    )
    print(f"command: {command_line}")
    print(f"  {'':50} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}")
    for line in report:
        print(line)


def run(args: argparse.Namespace, directory: Path, stack: Stack) -> list[str]:
    per_namespace = args.nodes // len(LIST_NAMESPACES) * args.pods_per_node
    total_pods = per_namespace * len(LIST_NAMESPACES)
    base_env = {"PATH": os.environ.get("PATH", ""), "HOME": str(directory), "LANG": "C.UTF-8"}
    report = [
        f"cluster: {args.nodes} nodes, {total_pods} pods "
        f"({len(LIST_NAMESPACES)} namespaces x {args.nodes // len(LIST_NAMESPACES)} Deployments x "
        f"{args.pods_per_node} replicas, one Deployment per node; "
        f"{SERVICES_PER_NAMESPACE * len(LIST_NAMESPACES)} Services)"
    ]
    log(f"sim: {args.nodes} nodes, {total_pods} pods")
    sim_url, kubeconfig, ready_after = start_sim(args, directory, stack, base_env, total_pods)
    report.append(f"  all pods Running {ready_after:.0f} s after the sim started")
    base, key, token = start_server(args, directory, stack, base_env, kubeconfig)

    with (
        httpx.Client(base_url=sim_url, timeout=120) as sim,
        httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=120) as client,
    ):
        wait_for(lambda: client.get("/health").status_code == 200, 120, "the server", stack, "server")
        stack.spawn(
            "executor",
            [
                *profiled(args, stack, "executor"),
                "executor",
                "--server",
                base,
                "--cluster-id",
                "tunnel",
                "--kubeconfig",
                str(kubeconfig),
                "--security-mode",
                "fullAccess",
                "--log-level",
                "WARNING",
            ],
            {**base_env, "PILOTHOUSE_EXECUTOR_TOKEN": token},
        )

        def both_reachable() -> bool:
            contexts = client.get("/api/v1/contexts").json()["contexts"]
            reachable = {entry["cluster_id"] for entry in contexts if entry.get("is_reachable")}
            return {"direct", "tunnel"} <= reachable

        wait_for(both_reachable, 120, "both clusters reachable", stack, "executor")

        log(f"topology: {args.runs} runs")
        report += topology_phase(client, sim, args.runs)
        log(f"list: {args.list_rounds} interleaved rounds per limit")
        pids = {name: stack.processes[name].pid for name in ("server", "executor", "sim")}
        report += list_phase(client, sim, args.list_rounds, per_namespace, pids)
    for cluster in ("direct",) if args.no_tunnel_watch else ("direct", "tunnel"):
        log(f"watch fan-out through {cluster}: {args.subscribers} subscribers")
        report += watch_phase(base, key, cluster, args.subscribers, args.configmaps, args.interval_ms)

    memory = []
    for name in ("server", "executor", "sim"):
        rss, hwm = memory_mib(stack.processes[name].pid)
        memory.append(f"{name} {rss:.0f} (peak {hwm:.0f})")
    report.append(f"RSS MiB at the end: {', '.join(memory)}")
    return report


def start_sim(
    args: argparse.Namespace, directory: Path, stack: Stack, base_env: dict[str, str], total_pods: int
) -> tuple[str, Path, float]:
    """Start ``pilothouse sim`` and wait until every pod runs: (its URL, its kubeconfig, seconds)."""
    scenario_file = directory / "scenario.yaml"
    scenario_file.write_text(yaml.safe_dump(scenario(args.nodes, args.pods_per_node)))
    kubeconfig = directory / "kubeconfig"
    port = free_port()
    started = time.perf_counter()
    argv = ["sim", "--scenario", str(scenario_file), "--port", str(port), "--kubeconfig-out", str(kubeconfig)]
    stack.spawn("sim", [*PILOTHOUSE, *argv], base_env)
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=120) as sim:
        # Loading the scenario happens before the sim listens: about a minute at full size.
        def healthy() -> bool:
            return kubeconfig.exists() and sim.get("/healthz").status_code == 200

        wait_for(healthy, 600, "the sim", stack, "sim")

        def all_running() -> bool:
            ready = sum(
                item.get("status", {}).get("readyReplicas", 0)
                for namespace in LIST_NAMESPACES
                for item in sim.get(f"/apis/apps/v1/namespaces/{namespace}/deployments").json()["items"]
            )
            if ready < total_pods:
                return False
            running = sim.get("/api/v1/pods", params={"fieldSelector": "status.phase=Running"}).json()
            return bool(len(running["items"]) >= total_pods)

        wait_for(all_running, 900, "every pod to run", stack, "sim")
    return url, kubeconfig, time.perf_counter() - started


def start_server(
    args: argparse.Namespace, directory: Path, stack: Stack, base_env: dict[str, str], kubeconfig: Path
) -> tuple[str, str, str]:
    """Bootstrap the database with the CLI (an admin key; ``direct`` and ``tunnel``, both the
    sim), then start ``pilothouse serve``: (its URL, the key, the tunnel's executor token)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **base_env,
        "PILOTHOUSE_DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'pilothouse.db'}",
        "PILOTHOUSE_JWT_SECRET": "cluster-api-bench",
        "PILOTHOUSE_LOG_LEVEL": "WARNING",
        "PILOTHOUSE_PUBLIC_URL": base,
        **{f"PILOTHOUSE_RATE_LIMITS__{name}": "1000000" for name in RAISED_LIMITS},
    }
    key = cli(env, "keys", "create", "--name", BENCH_KEY_NAME, "--scopes", "admin").strip().splitlines()[-1]
    cli(env, "clusters", "add", "direct", "--kubeconfig", str(kubeconfig), "--security-mode", "fullAccess")
    added = cli(env, "clusters", "add", "tunnel", "--security-mode", "fullAccess").splitlines()
    heading = next(index for index, line in enumerate(added) if line.startswith("Executor token"))
    token = added[heading + 1].strip()
    runner = profiled(args, stack, "server")
    stack.spawn("server", [*runner, "serve", "--host", "127.0.0.1", "--port", str(port)], env)
    return base, key, token


def profiled(args: argparse.Namespace, stack: Stack, name: str) -> list[str]:
    """How to run ``pilothouse``: under cProfile (``<name>.prof``, stopped with SIGINT so the
    file gets written) with ``--profile-dir``."""
    if args.profile_dir is None:
        return list(PILOTHOUSE)
    stack.interrupt.add(name)
    return [sys.executable, "-m", "cProfile", "-o", str(args.profile_dir / f"{name}.prof"), *PILOTHOUSE[1:]]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
