"""Every built-in scenario, served and driven with the real kubectl: each shows what its
`expect` section says a real cluster with that fault would show, and nothing else goes wrong.

The checks are data: one parametrized test reads each scenario's `expect` (documented in
docs/scenarios.md) and asks kubectl, as a person investigating would.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner

from pilothouse.cli.sim import sim_command
from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.scenario import Scenario, builtin_scenario_names, install, load_scenario
from pilothouse.sim.serving import SimServer
from tests.sim.e2e.conftest import KUBECTL, Sim

SCENARIOS = builtin_scenario_names()
BASELINE = "healthy"
START = 1_748_941_200.0  # Tue 2025-06-03 09:00 UTC: fixed, so CronJobs fire (or not) at the same offsets
STEP = 1.0
# The fields each `expect` section may use (docs/scenarios.md): a typo must not silently check nothing.
SECTION_KEYS = {
    "pods": {
        "namespace",
        "selector",
        "fieldSelector",
        "status",
        "ready",
        "count",
        "minRestarts",
        "lastTerminated",
    },
    "events": {"namespace", "reason", "message", "type", "object"},
    "logs": {"namespace", "selector", "container", "previous", "contains"},
    "endpoints": {"namespace", "name", "ready", "notReady", "port"},
    "objects": {"kind", "namespace", "name", "selector", "columns", "jsonpath", "equals", "contains"},
}
EXPECT_KEYS = {"after", "faults", *SECTION_KEYS}
CAUSE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
DOCS = Path(__file__).parents[3] / "docs" / "scenarios.md"
EXAMPLE_MARKER = "<!-- worked example: tested by tests/sim/scenarios -->"

Json = dict[str, Any]


@pytest.fixture(autouse=True)
def _kubectl_installed() -> None:
    if not Path(KUBECTL).exists():
        pytest.fail("kubectl is not installed in the virtualenv (make install)")


def run_scenario(name: str, *, seed: int = 7) -> tuple[SimCluster, Scenario]:
    """Install a scenario (a built-in name or a YAML path) on a manual clock; let `expect.after` pass."""
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


class Kubectl:
    """The real kubectl against a served scenario whose clock stands still while it is checked,
    so the same command always prints the same: each one runs once."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self._seen: dict[tuple[str, ...], str] = {}

    async def out(self, *args: str) -> str:
        if args not in self._seen:
            self._seen[args] = (await self.sim.kubectl(*args)).stdout
        return self._seen[args]


async def get_json(kc: Kubectl, *args: str) -> Json:
    document = orjson.loads(await kc.out("get", *args, "-o", "json"))
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


async def check_pods(kc: Kubectl, entry: Json) -> None:
    shown = table(await kc.out("get", "pods", *selector_args(entry)))
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
        for pod in (await get_json(kc, "pods", *selector_args(entry)))["items"]:
            reasons = [
                (c.get("lastState") or {}).get("terminated", {}).get("reason")
                for c in pod["status"].get("containerStatuses") or []
            ]
            assert entry["lastTerminated"] in reasons, f"{pod['metadata']['name']}: {reasons}"


async def check_event(kc: Kubectl, entry: Json) -> None:
    events = (await get_json(kc, "events", "-n", entry["namespace"]))["items"]
    found = [
        e
        for e in events
        if e["reason"] == entry["reason"]
        and entry.get("message", "") in e["message"]
        and e["type"] == entry.get("type", e["type"])
        and f"{e['involvedObject']['kind']}/{e['involvedObject']['name']}".startswith(entry.get("object", ""))
    ]
    seen = sorted({(e["reason"], e["message"]) for e in events})
    assert found, f"no event like {entry}; kubectl shows {seen}"
    listed = await kc.out("get", "events", "-n", entry["namespace"])
    assert entry["reason"] in listed


async def check_logs(kc: Kubectl, entry: Json) -> None:
    pods = table(await kc.out("get", "pods", *selector_args(entry)))
    assert pods, f"no pods for {entry}"
    for pod in pods:
        args = ["logs", "-n", entry["namespace"], pod["NAME"]]
        if entry.get("container"):
            args += ["-c", entry["container"]]
        if entry.get("previous"):
            args.append("--previous")
        out = await kc.out(*args)
        assert entry["contains"] in out, f"{' '.join(args)} shows:\n{out}"


async def check_endpoints(kc: Kubectl, entry: Json) -> None:
    endpoints = await get_json(kc, "endpoints", entry["name"], "-n", entry["namespace"])
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


async def check_object(kc: Kubectl, entry: Json) -> None:
    args = [entry["kind"], *([entry["name"]] if "name" in entry else ["-l", entry["selector"]])]
    args += ["-n", entry["namespace"]] if "namespace" in entry else []
    if "columns" in entry:
        (row,) = table(await kc.out("get", *args))
        for column, value in entry["columns"].items():
            assert row[column] == str(value), f"{entry}: kubectl shows {row}"
    if "jsonpath" in entry:
        out = await kc.out("get", *args, "-o", f"jsonpath={entry['jsonpath']}")
        if "equals" in entry:
            assert out == str(entry["equals"]), f"{entry}: {out!r}"
        if "contains" in entry:
            assert str(entry["contains"]) in out, f"{entry}: {out!r}"


async def check_others_healthy(kc: Kubectl, scenario: Scenario) -> None:
    """Every pod no `expect.pods` entry names is Running and Ready (or Succeeded, for jobs)."""
    faulty: set[str] = set()
    for entry in scenario.expect.get("pods") or []:
        faulty |= {row["NAME"] for row in table(await kc.out("get", "pods", *selector_args(entry)))}
    for namespace in sorted(scenario_namespaces(scenario)):
        for row in table(await kc.out("get", "pods", "-n", namespace)):
            if row["NAME"] in faulty:
                continue
            ready, total = row["READY"].split("/")
            healthy = row["STATUS"] == "Completed" or (row["STATUS"] == "Running" and ready == total)
            assert healthy, f"{namespace}/{row['NAME']} is not healthy: {row}"


async def check_faults_name_real_objects(kc: Kubectl, scenario: Scenario) -> None:
    faults = scenario.expect.get("faults") or []
    assert faults, "a fault scenario names its faults"
    for fault in faults:
        assert set(fault) == {"resource", "cause", "summary"}, fault
        assert CAUSE.fullmatch(fault["cause"]), fault["cause"]
        resource = fault["resource"]
        args = [resource["kind"], resource["name"]]
        if "namespace" in resource:
            args += ["-n", resource["namespace"]]
        await kc.out("get", *args, "-o", "name")


async def check_scenario(kc: Kubectl, scenario: Scenario) -> None:
    """Everything `expect` says, then: the rest is healthy, and the faults name real objects."""
    expect = scenario.expect
    assert set(expect) <= EXPECT_KEYS, f"unknown expect sections: {set(expect) - EXPECT_KEYS}"
    assert scenario.description
    assert "\n" not in scenario.description.strip()
    checks = {
        "pods": check_pods,
        "events": check_event,
        "logs": check_logs,
        "endpoints": check_endpoints,
        "objects": check_object,
    }
    for section, check in checks.items():
        for entry in expect.get(section) or []:
            assert set(entry) <= SECTION_KEYS[section], f"unknown keys in {section} entry {entry}"
            await check(kc, entry)
    await check_others_healthy(kc, scenario)
    if scenario.name == BASELINE:
        assert not expect.get("faults")
        warnings = [
            (e["involvedObject"]["name"], e["reason"], e["message"])
            for e in (await get_json(kc, "events", "-A"))["items"]
            if e["type"] == "Warning"
        ]
        assert warnings == []
    else:
        await check_faults_name_real_objects(kc, scenario)


# The tests -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
async def test_scenario_shows_what_a_real_cluster_would(tmp_path: Path, name: str) -> None:
    async with served(tmp_path, name) as (sim, scenario):
        await check_scenario(Kubectl(sim), scenario)


async def test_the_worked_example_in_the_docs_holds(tmp_path: Path) -> None:
    text = DOCS.read_text()
    example = text[text.index(EXAMPLE_MARKER) :]
    block = example[example.index("```yaml\n") + len("```yaml\n") : example.index("\n```\n")]
    path = tmp_path / "slow-start.yaml"
    path.write_text(block + "\n")
    async with served(tmp_path, str(path)) as (sim, scenario):
        assert scenario.name == "slow-start"
        await check_scenario(Kubectl(sim), scenario)


# The fix a person would apply with kubectl, for faults that live in API objects: once applied,
# the cluster must heal by itself (no restart of anything by hand).
def json_patch(kind: str, name: str, namespace: str, *operations: Json) -> list[str]:
    return ["patch", kind, name, "-n", namespace, "--type=json", "-p", orjson.dumps(operations).decode()]


FIXES = {
    "networkpolicy-blocks-dependency": json_patch(
        "networkpolicy",
        "cache-ingress",
        "shop",
        {
            "op": "add",
            "path": "/spec/ingress/0/from/-",
            "value": {"podSelector": {"matchLabels": {"app": "api"}}},
        },
    ),
    "rbac-forbidden": json_patch(
        "role",
        "config-syncer",
        "platform",
        {
            "op": "add",
            "path": "/rules/-",
            "value": {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]},
        },
    ),
    "service-targetport-mismatch": json_patch(
        "service", "api", "shop", {"op": "replace", "path": "/spec/ports/0/targetPort", "value": 8080}
    ),
    "missing-configmap": ["apply", "-f", "-"],
}
FIX_MANIFESTS = {
    "missing-configmap": orjson.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "mailer-templates", "namespace": "notifications"},
            "data": {"welcome.html": "<h1>Welcome to Acme, {{ .Name }}!</h1>"},
        }
    ).decode(),
}


@pytest.mark.parametrize("name", sorted(FIXES))
async def test_fixing_the_fault_through_the_api_heals_the_cluster(tmp_path: Path, name: str) -> None:
    async with served(tmp_path, name) as (sim, scenario):
        await sim.kubectl(*FIXES[name], stdin=FIX_MANIFESTS.get(name))
        sim.cluster.advance(60, step=STEP)
        kc = Kubectl(sim)
        (namespace,) = scenario_namespaces(scenario)
        for row in table(await kc.out("get", "pods", "-n", namespace)):
            assert row["STATUS"] == "Running", row
            assert row["READY"] == "1/1", row
            recent = await kc.out("logs", "-n", namespace, row["NAME"], "--since=20s")
            assert "error:" not in recent, f"{row['NAME']} still logs errors:\n{recent}"


def history(cluster: SimCluster) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str, int]]]:
    """Pod names and full container statuses, and every event's (object, reason, message, count)."""
    pods = [
        (
            str(p["metadata"]["namespace"]),
            str(p["metadata"]["name"]),
            str(p["status"].get("phase", "")),
            orjson.dumps(p["status"].get("containerStatuses"), option=orjson.OPT_SORT_KEYS).decode(),
        )
        for p in cluster.objects_of("", "Pod")
    ]
    events = sorted(
        (str(e["involvedObject"]["name"]), str(e["reason"]), str(e["message"]), int(e["count"]))
        for e in cluster.objects_of("", "Event")
    )
    return pods, events


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_is_deterministic(name: str) -> None:
    first, _ = run_scenario(name)
    second, _ = run_scenario(name)
    pods, events = history(first)
    assert pods
    assert events
    assert history(second) == (pods, events)


def test_every_scenario_is_listed_by_the_cli() -> None:
    # `pilothouse sim --list-scenarios`, through typer, without importing every other command.
    app = typer.Typer()
    app.command()(sim_command)
    result = CliRunner().invoke(app, ["--list-scenarios"])
    assert result.exit_code == 0, result.output
    listed = result.output.splitlines()
    assert len(SCENARIOS) >= 22
    for name in SCENARIOS:
        description = load_scenario(name).description
        assert any(line.split(maxsplit=1) == [name, description] for line in listed), name
