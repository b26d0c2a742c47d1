"""Every built-in scenario, served and driven with the real kubectl: each shows what its
`expect` section says a real cluster with that fault would show, and nothing else goes wrong.

The checks are data: one parametrized test reads each scenario's `expect` (documented in
docs/scenarios.md) and asks kubectl, as a person investigating would.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.scenario import Scenario, builtin_scenario_names, install, load_scenario
from pilothouse.sim.serving import SimServer
from tests.sim.e2e.conftest import KUBECTL, Sim

SCENARIOS = builtin_scenario_names()
BASELINE = "healthy"
FAULT_SCENARIOS = [name for name in SCENARIOS if name != BASELINE]
START = 1_750_000_000.0  # a fixed start (a weekday morning, UTC): CronJobs fire at the same offsets
STEP = 1.0
EXPECT_KEYS = {"after", "faults", "pods", "events", "logs", "endpoints", "objects"}
PODS_KEYS = {"namespace", "selector", "fieldSelector", "status", "ready", "count", "minRestarts"}
PODS_KEYS |= {"lastTerminated"}

Json = dict[str, Any]


@pytest.fixture(autouse=True)
def _kubectl_installed() -> None:
    if not Path(KUBECTL).exists():
        pytest.fail("kubectl is not installed in the virtualenv (make install)")


def run_scenario(name: str, *, seed: int = 7) -> tuple[SimCluster, Scenario]:
    """Install a scenario on a manual clock and let its `expect.after` seconds pass."""
    scenario = load_scenario(name)
    cluster = SimCluster(seed=seed, manual_clock=True, start_time=START)
    install(cluster, scenario)
    cluster.advance(float(scenario.expect.get("after", 60)), step=STEP)
    return cluster, scenario


@asynccontextmanager
async def served(tmp_path: Path, name: str) -> AsyncIterator[tuple[Sim, Scenario]]:
    cluster, scenario = run_scenario(name)
    async with SimServer(cluster, state_dir=tmp_path) as server:
        yield Sim(cluster, server), scenario


def scenario_namespaces(scenario: Scenario) -> set[str]:
    names = {m["metadata"]["name"] for m in scenario.manifests if m.get("kind") == "Namespace"}
    names |= {m["metadata"]["namespace"] for m in scenario.manifests if m["metadata"].get("namespace")}
    return names


async def get_json(sim: Sim, *args: str) -> Json:
    document = (await sim.kubectl("get", *args, "-o", "json")).json()
    assert isinstance(document, dict)
    return document


def table(text: str) -> list[dict[str, str]]:
    """kubectl's table as rows keyed by header; columns are cut at the header's offsets."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0]
    starts = [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 1] == " ")]
    names = header.split()
    rows = []
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        rows.append(dict(zip(names, cells, strict=True)))
    return rows


def selector_args(entry: Json) -> list[str]:
    args = ["-n", entry["namespace"]]
    if entry.get("selector"):
        args += ["-l", entry["selector"]]
    if entry.get("fieldSelector"):
        args += ["--field-selector", entry["fieldSelector"]]
    return args


# The checks, one per `expect` section ------------------------------------------------------------


async def check_pods(sim: Sim, entry: Json) -> None:
    assert set(entry) <= PODS_KEYS, f"unknown keys in {entry}"
    shown = table((await sim.kubectl("get", "pods", *selector_args(entry))).stdout)
    where = f"pods {entry}: kubectl shows {shown}"
    if "count" in entry:
        assert len(shown) == entry["count"], where
    else:
        assert shown, where
    for row in shown:
        if "status" in entry:
            assert row["STATUS"] == entry["status"], where
        if "ready" in entry:
            assert row["READY"] == entry["ready"], where
        if "minRestarts" in entry:
            assert int(row["RESTARTS"].split()[0]) >= entry["minRestarts"], where
    if "lastTerminated" in entry:
        for pod in (await get_json(sim, "pods", *selector_args(entry)))["items"]:
            reasons = [
                (c.get("lastState") or {}).get("terminated", {}).get("reason")
                for c in pod["status"].get("containerStatuses") or []
            ]
            assert entry["lastTerminated"] in reasons, f"{pod['metadata']['name']}: {reasons}"


async def check_event(sim: Sim, entry: Json) -> None:
    events = (await get_json(sim, "events", "-n", entry["namespace"]))["items"]
    found = [
        e
        for e in events
        if e["reason"] == entry["reason"]
        and entry.get("message", "") in e["message"]
        and e["type"] == entry.get("type", e["type"])
        and f"{e['involvedObject']['kind']}/{e['involvedObject']['name']}".startswith(
            entry.get("object", "")
        )
    ]
    seen = sorted({(e["reason"], e["message"]) for e in events})
    assert found, f"no event like {entry}; kubectl shows {seen}"
    listed = (await sim.kubectl("get", "events", "-n", entry["namespace"])).stdout
    assert entry["reason"] in listed


async def check_logs(sim: Sim, entry: Json) -> None:
    pods = table((await sim.kubectl("get", "pods", *selector_args(entry))).stdout)
    assert pods, f"no pods for {entry}"
    for pod in pods:
        args = ["logs", "-n", entry["namespace"], pod["NAME"]]
        if entry.get("container"):
            args += ["-c", entry["container"]]
        if entry.get("previous"):
            args.append("--previous")
        out = (await sim.kubectl(*args)).stdout
        assert entry["contains"] in out, f"{' '.join(args)} shows:\n{out}"


async def check_endpoints(sim: Sim, entry: Json) -> None:
    endpoints = await get_json(sim, "endpoints", entry["name"], "-n", entry["namespace"])
    subsets = endpoints.get("subsets") or []
    counts = {
        "ready": sum(len(s.get("addresses") or []) for s in subsets),
        "notReady": sum(len(s.get("notReadyAddresses") or []) for s in subsets),
    }
    for key, count in counts.items():
        if key in entry:
            assert count == entry[key], f"endpoints {entry}: {subsets}"
    if "port" in entry:
        assert [p["port"] for s in subsets for p in s.get("ports") or []] == [entry["port"]], subsets


async def check_object(sim: Sim, entry: Json) -> None:
    args = [entry["kind"], *([entry["name"]] if "name" in entry else ["-l", entry["selector"]])]
    args += ["-n", entry["namespace"]] if "namespace" in entry else []
    if "columns" in entry:
        (row,) = table((await sim.kubectl("get", *args)).stdout)
        for column, value in entry["columns"].items():
            assert row[column] == str(value), f"{entry}: kubectl shows {row}"
    if "jsonpath" in entry:
        out = (await sim.kubectl("get", *args, "-o", f"jsonpath={entry['jsonpath']}")).stdout
        if "equals" in entry:
            assert out == str(entry["equals"]), f"{entry}: {out!r}"
        if "contains" in entry:
            assert str(entry["contains"]) in out, f"{entry}: {out!r}"


async def check_others_healthy(sim: Sim, scenario: Scenario) -> None:
    """Every pod no `expect.pods` entry names is Running and Ready (or Succeeded, for jobs)."""
    faulty: set[str] = set()
    for entry in scenario.expect.get("pods") or []:
        faulty |= {row["NAME"] for row in table((await sim.kubectl("get", "pods", *selector_args(entry))).stdout)}
    for namespace in sorted(scenario_namespaces(scenario)):
        for row in table((await sim.kubectl("get", "pods", "-n", namespace)).stdout):
            if row["NAME"] in faulty:
                continue
            ready, total = row["READY"].split("/")
            healthy = row["STATUS"] == "Completed" or (row["STATUS"] == "Running" and ready == total)
            assert healthy, f"{namespace}/{row['NAME']} is not healthy: {row}"


async def check_faults_name_real_objects(sim: Sim, scenario: Scenario) -> None:
    faults = scenario.expect.get("faults") or []
    assert faults, "a fault scenario names its faults"
    for fault in faults:
        assert {"resource", "cause", "summary"} <= set(fault), fault
        resource = fault["resource"]
        args = [resource["kind"], resource["name"]]
        if "namespace" in resource:
            args += ["-n", resource["namespace"]]
        await sim.kubectl("get", *args, "-o", "name")


# The tests -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
async def test_scenario_shows_what_a_real_cluster_would(tmp_path: Path, name: str) -> None:
    async with served(tmp_path, name) as (sim, scenario):
        expect = scenario.expect
        assert set(expect) <= EXPECT_KEYS, f"unknown expect sections: {set(expect) - EXPECT_KEYS}"
        assert scenario.description and "\n" not in scenario.description.strip()
        for entry in expect.get("pods") or []:
            await check_pods(sim, entry)
        for entry in expect.get("events") or []:
            await check_event(sim, entry)
        for entry in expect.get("logs") or []:
            await check_logs(sim, entry)
        for entry in expect.get("endpoints") or []:
            await check_endpoints(sim, entry)
        for entry in expect.get("objects") or []:
            await check_object(sim, entry)
        await check_others_healthy(sim, scenario)
        if name == BASELINE:
            assert not expect.get("faults")
            warnings = [
                (e["involvedObject"]["name"], e["reason"], e["message"])
                for e in (await get_json(sim, "events", "-A"))["items"]
                if e["type"] == "Warning"
            ]
            assert warnings == []
        else:
            await check_faults_name_real_objects(sim, scenario)


@pytest.mark.parametrize("name", FAULT_SCENARIOS)
def test_scenario_is_deterministic(name: str) -> None:
    def history(cluster: SimCluster) -> tuple[list[tuple[str, ...]], list[tuple[str, str, str, int]]]:
        pods = [
            (
                p["metadata"]["namespace"],
                p["metadata"]["name"],
                p["status"].get("phase", ""),
                orjson.dumps(p["status"].get("containerStatuses"), option=orjson.OPT_SORT_KEYS).decode(),
            )
            for p in cluster.objects_of("", "Pod")
        ]
        events = sorted(
            (e["involvedObject"]["name"], e["reason"], e["message"], e["count"])
            for e in cluster.objects_of("", "Event")
        )
        return pods, events

    first, _ = run_scenario(name)
    second, _ = run_scenario(name)
    assert history(first) == history(second)
    assert history(first)[1], "a fault scenario leaves events behind"


def test_every_scenario_is_listed_by_the_cli() -> None:
    pilothouse = Path(sys.executable).parent / "pilothouse"
    listed = subprocess.run(  # noqa: S603 - our own entry point
        [str(pilothouse), "sim", "--list-scenarios"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    assert len(SCENARIOS) >= 22
    for name in SCENARIOS:
        description = load_scenario(name).description
        assert any(line.split(maxsplit=1) == [name, description] for line in listed), name
