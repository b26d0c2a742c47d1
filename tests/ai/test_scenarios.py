"""The acceptance test: every built-in scenario of the simulated cluster, investigated through
the API server exactly as a real cluster would be, ranks the injected fault first.

The scenario's hidden ``expect.faults`` is the ground truth here and only here: the engine sees
the cluster through ``ClusterOps`` and nothing else.
"""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from pilothouse.ai import ResourceRef, investigate, scan
from pilothouse.ai.diagnosis import pods_of
from pilothouse.ai.findings import SEVERITY_RANK, Finding
from pilothouse.ai.snapshot import gather_snapshot
from pilothouse.kube.direct import DirectClusterOps
from pilothouse.kube.resolver import ResourceResolver
from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.scenario import Scenario, builtin_scenario_names, install, load_scenario
from pilothouse.sim.serving import SimServer

START = 1_748_941_200.0  # the same fixed start as tests/sim/scenarios: CronJobs fire at the same offsets
FAULTY = [name for name in builtin_scenario_names() if load_scenario(name).expect.get("faults")]
ENGINE = Path(__file__).parents[2] / "src" / "pilothouse" / "ai"


@asynccontextmanager
async def served(
    tmp_path: Path, name: str
) -> AsyncIterator[tuple[DirectClusterOps, ResourceResolver, Scenario]]:
    scenario = load_scenario(name)
    cluster = SimCluster(seed=7, manual_clock=True, start_time=START, data_dir=tmp_path / "data")
    install(cluster, scenario)
    cluster.advance(float(scenario.expect.get("after", 60)), step=1.0)
    async with SimServer(cluster, state_dir=tmp_path) as server:
        assert server.kubeconfig_path is not None
        ops = await DirectClusterOps.from_kubeconfig(str(server.kubeconfig_path))
        try:
            yield ops, ResourceResolver(ops), scenario
        finally:
            await ops.close()


def names(finding: Finding) -> set[tuple[str, str, str]]:
    return {ref.key for ref in finding.refs()}


def test_every_fault_scenario_is_covered() -> None:
    assert len(FAULTY) >= 21
    assert "healthy" not in FAULTY


@pytest.mark.parametrize("name", FAULTY)
async def test_top_cause_is_the_injected_fault(tmp_path: Path, name: str) -> None:
    async with served(tmp_path, name) as (ops, resolver, scenario):
        snapshot = await gather_snapshot(ops, resolver)
        failures = []
        for fault in scenario.expect["faults"]:
            resource = fault["resource"]
            ref = ResourceRef(
                kind=resource["kind"], namespace=resource.get("namespace"), name=resource["name"]
            )
            obj = snapshot.get(ref.kind, ref.namespace, ref.name)
            assert obj is not None, f"{ref} is not in the cluster"
            targets = [ref]
            pods = pods_of(snapshot, obj)
            if pods and ref.kind != "Pod":
                targets.append(ResourceRef.of(pods[0]))
            for target in targets:
                progress: list[int] = []

                def record(percent: int, _message: str, seen: list[int] = progress) -> None:
                    seen.append(percent)

                diagnosis = await investigate(ops, resolver, target, progress=record)
                top = diagnosis.findings[0] if diagnosis.findings else None
                if top is None or top.cause != fault["cause"] or ref.key not in names(top):
                    got = [(f.cause.value, str(f.resource), f.summary) for f in diagnosis.findings[:3]]
                    failures.append(f"{target}: expected {fault['cause']} on {ref}, got {got}")
                    continue
                assert diagnosis.root_cause == top
                assert (
                    top.cause.value in diagnosis.findings_summary
                    and top.evidence[0].id in diagnosis.findings_summary
                )
                assert diagnosis.recommendations
                assert progress[-1] == 100
        assert not failures, "\n".join(failures)


async def test_healthy_cluster_scan_has_nothing_severe(tmp_path: Path) -> None:
    async with served(tmp_path, "healthy") as (ops, resolver, _):
        findings = await scan(ops, resolver)
        severe = [f for f in findings if SEVERITY_RANK[f.severity] >= SEVERITY_RANK["high"]]
        assert severe == [], [f.summary for f in severe]
        # Insights still say something: the posture of what runs there.
        assert findings
        assert all(f.role == "risk" for f in findings)


async def test_healthy_workload_investigation_finds_no_cause(tmp_path: Path) -> None:
    async with served(tmp_path, "healthy") as (ops, resolver, _):
        diagnosis = await investigate(ops, resolver, ResourceRef(kind="deploy", namespace="shop", name="api"))
        assert diagnosis.target == ResourceRef(
            kind="Deployment", namespace="shop", name="api", uid=diagnosis.target.uid
        )
        assert diagnosis.root_cause is None
        assert diagnosis.severity in ("low", "info")


async def test_investigating_a_consumer_follows_its_dependency(tmp_path: Path) -> None:
    # web calls api, api cannot reach the cache, a NetworkPolicy cuts the cache off from api.
    async with served(tmp_path, "networkpolicy-blocks-dependency") as (ops, resolver, _):
        diagnosis = await investigate(
            ops, resolver, ResourceRef(kind="Deployment", namespace="shop", name="web")
        )
        assert diagnosis.root_cause is not None
        assert diagnosis.root_cause.cause == "networkpolicy-blocks-traffic"
        assert diagnosis.root_cause.distance == 1


async def test_a_missing_resource_is_reported(tmp_path: Path) -> None:
    from pilothouse.ai import TargetNotFound

    async with served(tmp_path, "healthy") as (ops, resolver, _):
        with pytest.raises(TargetNotFound):
            await investigate(ops, resolver, ResourceRef(kind="Pod", namespace="shop", name="nope"))


def test_the_engine_never_imports_the_simulator() -> None:
    for path in ENGINE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("pilothouse.sim"), path
            elif isinstance(node, ast.Import):
                assert not any(alias.name.startswith("pilothouse.sim") for alias in node.names), path
