"""Benchmark of the simulated cluster at size: 100 nodes, 500 deployments, 5,000 pods.

Starts `pilothouse sim` as its own process with a generated scenario, waits until every pod is
Running, then prints: list latency for all pods as JSON and as a kubectl Table (median and p95
of repeated requests), watch throughput (events per second delivered to a watcher while the
cluster churns), steady-state CPU of the idle sim (% of one core) and its RSS.

    .venv/bin/python bench/sim.py [--deployments 500] [--replicas 10] [--nodes 100]

Goals (issue 2): list of 5,000 pods under 300 ms, idle CPU under 5% of a core, RSS under 500 MB.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def scenario(nodes: int, deployments: int, replicas: int) -> dict[str, object]:
    manifests: list[dict[str, object]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "load"}}
    ]
    for index in range(deployments):
        name = f"app-{index:03d}"
        manifests.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": "load", "labels": {"app": name}},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name, "tier": "bench"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "main",
                                    "image": "nginx:1.27",
                                    "ports": [{"containerPort": 80}],
                                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                                }
                            ]
                        },
                    },
                },
            }
        )
    return {
        "name": "bench",
        "description": "generated for bench/sim.py",
        "nodes": [
            {"name": f"node-{i:03d}", "cpu": "32", "memory": "128Gi", "pods": 250} for i in range(nodes)
        ],
        "registry": {"pullSeconds": 0.5},
        "manifests": manifests,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(client: httpx.Client, url: str, headers: dict[str, str], runs: int) -> tuple[list[float], int]:
    samples = []
    size = 0
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        response.raise_for_status()
        size = len(response.content)
        samples.append((time.perf_counter() - start) * 1000)
    return samples, size


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--deployments", type=int, default=500)
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    expected = args.deployments * args.replicas

    with tempfile.TemporaryDirectory() as workdir:
        scenario_file = Path(workdir) / "bench.yaml"
        scenario_file.write_text(yaml.safe_dump(scenario(args.nodes, args.deployments, args.replicas)))
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "pilothouse.cli.main",
            "sim",
            "--scenario",
            str(scenario_file),
            "--port",
            str(port),
            "--kubeconfig-out",
            str(Path(workdir) / "kubeconfig"),
        ]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            started = time.perf_counter()
            with httpx.Client(base_url=base, timeout=60) as client:
                while True:
                    try:
                        client.get("/healthz").raise_for_status()
                        break
                    except httpx.TransportError:
                        if process.poll() is not None:
                            output = process.stdout.read().decode() if process.stdout else ""
                            raise SystemExit(f"the sim exited: {output}") from None
                        time.sleep(0.2)
                while True:
                    pods = client.get(
                        "/api/v1/namespaces/load/pods", params={"fieldSelector": "status.phase=Running"}
                    ).json()["items"]
                    if len(pods) >= expected:
                        break
                    time.sleep(1)
                ready_after = time.perf_counter() - started

                json_ms, json_bytes = timed(client, "/api/v1/pods", {"Accept": "application/json"}, args.runs)
                table_ms, table_bytes = timed(client, "/api/v1/pods", {"Accept": TABLE}, args.runs)

                # Watch throughput: replay all pods from resourceVersion 0, then every label patch.
                received = 0
                watch_start = time.perf_counter()
                with client.stream(
                    "GET", "/api/v1/pods", params={"watch": "true", "timeoutSeconds": "30"}
                ) as stream:
                    for line in stream.iter_lines():
                        if line:
                            received += 1
                        if received >= expected:
                            break
                replay_seconds = time.perf_counter() - watch_start

                time.sleep(2)  # let the last writes settle before measuring idle cost
                cpu_before, wall_before = cpu_seconds(process.pid), time.perf_counter()
                time.sleep(args.idle_seconds)
                idle_cpu = (cpu_seconds(process.pid) - cpu_before) / (time.perf_counter() - wall_before) * 100
                rss = rss_mb(process.pid)

            print(
                f"cluster: {args.nodes} nodes, {args.deployments} deployments, {expected} pods "
                f"(all Running after {ready_after:.1f} s)"
            )
            print(
                f"list {expected} pods, JSON : median {statistics.median(json_ms):7.1f} ms   "
                f"p95 {percentile(json_ms, 0.95):7.1f} ms   ({json_bytes / 1e6:.1f} MB)   goal < 300 ms"
            )
            print(
                f"list {expected} pods, Table: median {statistics.median(table_ms):7.1f} ms   "
                f"p95 {percentile(table_ms, 0.95):7.1f} ms   ({table_bytes / 1e6:.1f} MB)   goal < 300 ms"
            )
            # The first Table list prints every row; later ones reuse rows of unchanged pods.
            print(f"list {expected} pods, Table, first request (no cached rows): {table_ms[0]:7.1f} ms")
            print(f"watch throughput: {received / replay_seconds:,.0f} events/s ({received} events)")
            print(f"idle CPU: {idle_cpu:.1f}% of one core over {args.idle_seconds:.0f} s   goal < 5%")
            print(f"RSS: {rss:.0f} MB   goal < 500 MB")
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
