"""The real kubectl against the simulated cluster: what a real cluster would show."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.scenario import DEFAULT_NODES, NodeSpec, add_nodes
from pilothouse.sim.serving import SimServer
from tests.sim.e2e.conftest import Sim

POD = """
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web, tier: front}
spec:
  containers:
    - name: nginx
      image: nginx:1.27
      ports: [{containerPort: 80}]
      env: [{name: GREETING, value: hello}]
"""


async def test_version_api_resources_and_cluster_info(sim: Sim) -> None:
    version = (await sim.kubectl("version", "-o", "json")).json()
    assert version["serverVersion"]["minor"] == "37"  # type: ignore[index]
    resources = (await sim.kubectl("api-resources")).stdout
    for line in ("deployments", "deploy", "apps/v1", "cronjobs", "customresourcedefinitions"):
        assert line in resources
    info = (await sim.kubectl("cluster-info")).stdout
    assert "is running at" in info


async def test_get_nodes_shows_ready_nodes_with_version(sim: Sim) -> None:
    out = (await sim.kubectl("get", "nodes")).stdout.splitlines()
    assert out[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert [line.split()[:2] for line in out[1:]] == [
        ["node-1", "Ready"],
        ["node-2", "Ready"],
        ["node-3", "Ready"],
    ]
    wide = (await sim.kubectl("get", "nodes", "-o", "wide")).stdout
    assert "INTERNAL-IP" in wide
    assert "10.0.0.10" in wide
    assert "containerd://" in wide


async def test_pod_lifecycle_through_apply_get_logs_exec_delete(sim: Sim) -> None:
    applied = await sim.kubectl("apply", "-f", "-", stdin=POD)
    assert applied.stdout.strip() == "pod/web created"
    pending = (await sim.kubectl("get", "pod", "web")).stdout
    assert "ContainerCreating" in pending or "Pending" in pending
    sim.advance(10)
    row = (await sim.kubectl("get", "pod", "web", "--no-headers")).stdout.split()
    assert row[:4] == ["web", "1/1", "Running", "0"]
    wide = (await sim.kubectl("get", "pods", "-o", "wide", "--show-labels")).stdout
    assert "10.244." in wide
    assert "app=web,tier=front" in wide
    jsonpath = await sim.kubectl("get", "pod", "web", "-o", "jsonpath={.status.phase} {.spec.nodeName}")
    assert jsonpath.stdout.startswith("Running node-")
    as_yaml = yaml.safe_load((await sim.kubectl("get", "pod", "web", "-o", "yaml")).stdout)
    assert as_yaml["status"]["containerStatuses"][0]["ready"] is True
    reapplied = await sim.kubectl("apply", "-f", "-", stdin=POD.replace("tier: front", "tier: edge"))
    assert reapplied.stdout.strip() == "pod/web configured"
    assert (await sim.kubectl("get", "pod", "-l", "tier=edge", "-o", "name")).stdout.strip() == "pod/web"

    executed = await sim.kubectl(
        "exec", "web", "--", "sh", "-c", "echo $GREETING; echo oops >&2; exit 4", check=False
    )
    assert executed.returncode == 4
    assert executed.stdout == "hello\n"
    assert "oops" in executed.stderr

    deleted = await sim.kubectl("delete", "pod", "web", "--wait=false")
    assert deleted.stdout.strip().startswith('pod "web" deleted')
    sim.advance(5)
    missing = await sim.kubectl("get", "pod", "web", check=False)
    assert missing.returncode == 1
    assert 'pods "web" not found' in missing.stderr


async def test_describe_pod_has_events_section(sim: Sim) -> None:
    await sim.kubectl("apply", "-f", "-", stdin=POD)
    sim.advance(10)
    described = (await sim.kubectl("describe", "pod", "web")).stdout
    assert "Status:           Running" in described
    events = described.split("Events:")[1]
    for reason in ("Scheduled", "Pulling", "Pulled", "Created", "Started"):
        assert reason in events
    assert "Successfully assigned default/web to node-" in events


async def test_crashing_container_shows_crash_loop_and_previous_logs(sim: Sim) -> None:
    sim.cluster.kubelet.configure(
        __import__("pilothouse.sim.behaviour", fromlist=["Behaviours"]).Behaviours.from_spec(
            [
                {
                    "match": {"pod": "crasher"},
                    "exit": {"after": 3, "code": 2},
                    "logs": {"start": ["booting"], "exit": ["fatal: cannot open /data/db"]},
                }
            ]
        ),
        sim.cluster.kubelet.registry,
    )
    await sim.kubectl("run", "crasher", "--image=busybox:1.37", "--restart=Always")
    sim.advance(60)
    row = (await sim.kubectl("get", "pod", "crasher", "--no-headers")).stdout.split()
    assert row[2] in ("CrashLoopBackOff", "Error")
    assert int(row[3]) >= 2
    previous = (await sim.kubectl("logs", "crasher", "--previous")).stdout
    assert previous == "booting\nfatal: cannot open /data/db\n"
    tail = (await sim.kubectl("logs", "crasher", "--previous", "--tail=1")).stdout
    assert tail == "fatal: cannot open /data/db\n"
    events = (await sim.kubectl("get", "events", "--field-selector", "involvedObject.name=crasher")).stdout
    assert "BackOff" in events
    assert "Back-off restarting failed container crasher" in events


async def test_top_uses_metrics_api(sim: Sim) -> None:
    await sim.kubectl("apply", "-f", "-", stdin=POD)
    sim.advance(10)
    pods = (await sim.kubectl("top", "pods")).stdout.splitlines()
    assert pods[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert pods[1].split()[0] == "web"
    nodes = (await sim.kubectl("top", "nodes")).stdout
    assert "node-1" in nodes
    assert "CPU(%)" in nodes


async def test_invalid_object_is_rejected_with_field_causes(sim: Sim) -> None:
    bad = POD.replace("name: web\n", "name: Web_1\n", 1)
    result = await sim.kubectl("apply", "-f", "-", stdin=bad, check=False)
    assert result.returncode == 1
    assert 'Pod "Web_1" is invalid' in result.stderr
    assert "metadata.name" in result.stderr


async def test_unknown_resource_and_bad_selector_errors(sim: Sim) -> None:
    unknown = await sim.kubectl("get", "flurbs", check=False)
    assert unknown.returncode == 1
    assert "the server doesn't have a resource type" in unknown.stderr
    selector = await sim.kubectl("get", "pods", "--field-selector", "spec.bogus=1", check=False)
    assert selector.returncode == 1
    assert "field label not supported: spec.bogus" in selector.stderr


async def test_tls_and_token_are_required_when_configured(tmp_path: Path) -> None:
    cluster = SimCluster(seed=1, manual_clock=True)
    add_nodes(cluster, [NodeSpec.from_spec(DEFAULT_NODES[0])])
    async with SimServer(cluster, tls=True, token="s3cret", state_dir=tmp_path) as server:
        assert server.url.startswith("https://")
        sim = Sim(cluster, server)
        nodes = (await sim.kubectl("get", "nodes", "-o", "name")).stdout
        assert nodes.strip() == "node/node-1"
        denied = await sim.kubectl("--token", "wrong", "get", "nodes", check=False)
        assert denied.returncode == 1
        assert "Unauthorized" in denied.stderr or "must be logged in" in denied.stderr


@pytest.mark.parametrize("kind", ["pods", "po", "pod"])
async def test_resource_names_resolve(sim: Sim, kind: str) -> None:
    assert (await sim.kubectl("get", kind, "-A", "-o", "name")).returncode == 0
