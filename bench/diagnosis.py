"""Benchmark of the diagnosis engine (issue 5): accuracy and latency of investigations over every
built-in scenario, and a full-cluster scan of 5,000 pods.

1. Every scenario with faults is installed on a simulated cluster (manual clock, advanced by its
   `expect.after`) and served over HTTP; each fault's resource, and one of its pods, is
   investigated through `DirectClusterOps` as a real cluster would be. A run is right when the
   top-ranked finding has the expected cause and names the faulted resource.
2. A cluster of ~5,000 pods (filler Deployments plus renamed copies of the fault scenarios) runs in
   `pilothouse sim` as its own process, sped up so that the faults develop; the scan's list time
   (reading every collection) and analysis time (running every analyzer on the snapshot) are
   measured apart, on a fresh snapshot each run.

    .venv/bin/python bench/diagnosis.py [--pods 5000] [--copies 8] [--runs 3] [--skip-scan]

Goals: 100% of top causes right, investigation median under 1 s, analysis of 5,000 pods under 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import yaml

from pilothouse.ai import ResourceRef, analyze_snapshot, gather_snapshot, investigate
from pilothouse.ai.diagnosis import pods_of
from pilothouse.kube.direct import DirectClusterOps
from pilothouse.kube.resolver import ResourceResolver
from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.scenario import builtin_scenario_names, install, load_scenario
from pilothouse.sim.serving import SimServer

START = 1_748_941_200.0
Json = dict[str, Any]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# --- 1. accuracy and latency over the built-in scenarios ------------------------------------------------


async def scenario_runs(name: str, workdir: Path) -> list[tuple[str, bool, float, str]]:
    """(target, right?, seconds, what was found) for each fault of a scenario and one of its pods."""
    scenario = load_scenario(name)
    cluster = SimCluster(seed=7, manual_clock=True, start_time=START, data_dir=workdir / "data")
    install(cluster, scenario)
    cluster.advance(float(scenario.expect.get("after", 60)), step=1.0)
    results = []
    async with SimServer(cluster, state_dir=workdir) as server:
        assert server.kubeconfig_path is not None
        ops = await DirectClusterOps.from_kubeconfig(str(server.kubeconfig_path))
        try:
            resolver = ResourceResolver(ops)
            snapshot = await gather_snapshot(ops, resolver)
            for fault in scenario.expect.get("faults") or []:
                spec = fault["resource"]
                ref = ResourceRef(kind=spec["kind"], namespace=spec.get("namespace"), name=spec["name"])
                targets = [ref]
                obj = snapshot.get(ref.kind, ref.namespace, ref.name)
                pods = pods_of(snapshot, obj) if obj is not None else []
                if pods:
                    targets.append(ResourceRef.of(pods[0]))
                for target in targets:
                    started = time.perf_counter()
                    diagnosis = await investigate(ops, resolver, target)
                    elapsed = time.perf_counter() - started
                    top = diagnosis.findings[0] if diagnosis.findings else None
                    right = (
                        top is not None
                        and top.cause == fault["cause"]
                        and ref.key in {r.key for r in top.refs()}
                    )
                    found = f"{top.cause.value} on {top.resource}" if top else "nothing"
                    results.append((str(target), right, elapsed, f"expected {fault['cause']}, found {found}"))
        finally:
            await ops.close()
    return results


async def accuracy() -> None:
    names = [n for n in builtin_scenario_names() if load_scenario(n).expect.get("faults")]
    latencies: list[float] = []
    right = total = 0
    print(f"Investigations over {len(names)} built-in fault scenarios (fault resource and one of its pods):")
    for name in names:
        with tempfile.TemporaryDirectory() as workdir:
            runs = await scenario_runs(name, Path(workdir))
        ok = all(r for _, r, _, _ in runs)
        print(
            f"  {'PASS' if ok else 'FAIL'}  {name:34} {len(runs)} investigations, "
            f"median {statistics.median(s for _, _, s, _ in runs) * 1000:6.1f} ms"
        )
        for target, correct, _, found in runs:
            if not correct:
                print(f"          {target}: {found}")
        right += sum(1 for _, r, _, _ in runs if r)
        total += len(runs)
        latencies.extend(s for _, _, s, _ in runs)
    share = right / total * 100
    print(f"top cause right: {right}/{total} = {share:.0f}%   goal 100%")
    print(
        f"investigation latency: median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms   goal"
        " median < 1 s"
    )


# --- 2. a full-cluster scan of ~5,000 pods --------------------------------------------------------------

# Scenarios whose nodes are part of the fault (they would break every copy's neighbours).
SKIP_COPIES = {"node-not-ready"}


def raw_scenario(name: str) -> Json:
    document = yaml.safe_load((resources.files("pilothouse.sim") / "scenarios" / f"{name}.yaml").read_text())
    assert isinstance(document, dict)
    return document


def renamed(
    document: Json, suffix: str, cluster_scoped_seen: set[tuple[str, str]]
) -> tuple[list[Json], list[Json]]:
    """A scenario's manifests and behaviours with every namespace renamed ``<ns>-<suffix>``."""
    manifests = []
    for manifest in copy.deepcopy(document.get("manifests") or []):
        meta = manifest.setdefault("metadata", {})
        if manifest["kind"] == "Namespace":
            meta["name"] = f"{meta['name']}-{suffix}"
        elif "namespace" in meta:
            meta["namespace"] = f"{meta['namespace']}-{suffix}"
        else:
            key = (manifest["kind"], meta["name"])
            if key in cluster_scoped_seen:
                continue
            cluster_scoped_seen.add(key)
        for subject in manifest.get("subjects") or []:
            if "namespace" in subject:
                subject["namespace"] = f"{subject['namespace']}-{suffix}"
        manifests.append(manifest)
    behaviours = copy.deepcopy(document.get("behaviours") or [])
    for behaviour in behaviours:
        match = behaviour.get("match") or {}
        if "namespace" in match:
            match["namespace"] = f"{match['namespace']}-{suffix}"
    return manifests, behaviours


def big_scenario(pods: int, copies: int, nodes: int) -> tuple[Json, int]:
    manifests: list[Json] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "load"}}]
    behaviours: list[Json] = []
    images: set[str] = {"nginx:1.27"}
    private: list[Json] = []
    seen: set[tuple[str, str]] = set()
    fault_pods = 0
    for number, name in enumerate(builtin_scenario_names()):
        if name in SKIP_COPIES or name == "healthy":
            continue
        document = raw_scenario(name)
        registry = document.get("registry") or {}
        images.update(registry.get("images") or [])
        private.extend(p for p in registry.get("private") or [] if p not in private)
        for index in range(copies):
            # Scenarios share namespace names (shop, payments): the suffix names both.
            more, rules = renamed(document, f"s{number}c{index}", seen)
            manifests.extend(more)
            behaviours.extend(rules)
            fault_pods += sum(_replicas(m) for m in more)
    deployments = max(0, (pods - fault_pods) // 10)
    for index in range(deployments):
        name = f"app-{index:03d}"
        manifests.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": "load", "labels": {"app": name}},
                "spec": {
                    "replicas": 10,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name, "tier": "bench"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "main",
                                    "image": "nginx:1.27",
                                    "ports": [{"containerPort": 80}],
                                    "resources": {
                                        "requests": {"cpu": "10m", "memory": "32Mi"},
                                        "limits": {"memory": "64Mi"},
                                    },
                                }
                            ]
                        },
                    },
                },
            }
        )
    expected = fault_pods + deployments * 10
    document = {
        "name": "diagnosis-bench",
        "description": "generated by bench/diagnosis.py",
        "nodes": [
            {"name": f"node-{i:03d}", "cpu": "64", "memory": "256Gi", "pods": 250} for i in range(nodes)
        ],
        "registry": {"images": sorted(images), "private": private, "pullSeconds": 0.5},
        "manifests": manifests,
        "behaviours": behaviours,
    }
    return document, expected


def _replicas(manifest: Json) -> int:
    kind = manifest["kind"]
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        return int((manifest.get("spec") or {}).get("replicas", 1))
    if kind == "Job":
        return 1
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def measure_scan(kubeconfig: Path, runs: int) -> None:
    ops = await DirectClusterOps.from_kubeconfig(str(kubeconfig))
    try:
        resolver = ResourceResolver(ops)
        lists, pure, with_logs = [], [], []
        report = None
        for _ in range(runs):
            # A fresh snapshot each time: building its indexes is part of the analysis.
            snapshot = await gather_snapshot(ops, resolver)
            lists.append(snapshot.list_seconds)
            started = time.perf_counter()
            await analyze_snapshot(snapshot, log_budget=0)
            pure.append(time.perf_counter() - started)
            snapshot = await gather_snapshot(ops, resolver)
            started = time.perf_counter()
            report = await analyze_snapshot(snapshot)
            with_logs.append(time.perf_counter() - started)
        assert report is not None
        by_severity: dict[str, int] = {}
        for finding in report.findings:
            by_severity[finding.severity] = by_severity.get(finding.severity, 0) + 1
        causes = sorted({f.cause.value for f in report.findings if f.role == "cause"})
        print(
            f"scan of {report.pods} pods ({len(snapshot.events)} events): "
            f"{len(report.findings)} findings {by_severity}"
        )
        print(f"  causes found: {', '.join(causes)}")
        print(f"  list (every collection, concurrently): median {statistics.median(lists) * 1000:.0f} ms")
        print(
            f"  analysis (objects, events, metrics; no logs): median {statistics.median(pure) * 1000:.0f}"
            " ms   goal < 3 s"
        )
        print(
            "  analysis with logs of up to 50 failing pods: median"
            f" {statistics.median(with_logs) * 1000:.0f} ms "
            f"({report.log_requests} log reads, {report.timings['logs'] * 1000:.0f} ms of them)"
        )
    finally:
        await ops.close()


def scan_benchmark(pods: int, copies: int, runs: int, speed: float, settle: float) -> None:
    document, expected = big_scenario(pods, copies, nodes=max(3, pods // 200))
    with tempfile.TemporaryDirectory() as workdir:
        scenario_file = Path(workdir) / "bench.yaml"
        scenario_file.write_text(yaml.safe_dump(document))
        kubeconfig = Path(workdir) / "kubeconfig"
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
            str(kubeconfig),
            "--speed",
            str(speed),
        ]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ}
        )
        try:
            started = time.perf_counter()
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
                while True:
                    try:
                        client.get("/healthz").raise_for_status()
                        break
                    except httpx.TransportError:
                        if process.poll() is not None:
                            output = process.stdout.read().decode() if process.stdout else ""
                            raise SystemExit(f"the sim exited: {output}") from None
                        time.sleep(0.5)
                while True:
                    count = len(client.get("/api/v1/pods").json()["items"])
                    print(f"  {time.perf_counter() - started:5.0f} s: {count} of {expected} pods", flush=True)
                    if count >= expected * 0.98:
                        break
                    time.sleep(5)
            ready = time.perf_counter() - started
            # Let the faults develop: crash loops back off, jobs exhaust their retries.
            time.sleep(settle)
            print(
                f"\nCluster: {count} pods ({expected} expected) in {len(document['nodes'])} nodes, "
                f"{copies} copies of each fault scenario; up after {ready:.0f} s, then {settle:.0f} s at"
                f" {speed:g}x"
            )
            asyncio.run(measure_scan(kubeconfig, runs))
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument(
        "--copies", type=int, default=2, help="copies of each fault scenario in the big cluster"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per second in the big cluster"
    )
    parser.add_argument(
        "--settle", type=float, default=60.0, help="seconds to let the big cluster's faults develop"
    )
    parser.add_argument("--skip-scan", action="store_true")
    parser.add_argument("--skip-scenarios", action="store_true")
    args = parser.parse_args()
    if not args.skip_scenarios:
        asyncio.run(accuracy())
    if not args.skip_scan:
        scan_benchmark(args.pods, args.copies, args.runs, args.speed, args.settle)


if __name__ == "__main__":
    main()
