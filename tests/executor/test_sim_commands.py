"""The whole executor (run_executor) with the real kubectl against a simulated cluster, serving the
protocol double: what a server would receive for real commands."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import pytest

from pilothouse.executor.handler import DENIED_PREFIX
from pilothouse.executor.testing import ProtocolDouble
from pilothouse.policy import REDACTED, SecurityMode
from pilothouse.sim.serving import SimServer
from tests.executor.conftest import SECRET_VALUE, ConfigFactory, running
from tests.executor.processes import running_with


async def run_all(
    double: ProtocolDouble, *commands: tuple[str, ...], timeout: float = 10.0
) -> list[dict[str, Any]]:
    ids = [double.enqueue(list(args), timeout=timeout) for args in commands]
    return [await double.wait_result(command_id, seconds=timeout + 20) for command_id in ids]


async def test_read_commands_return_what_kubectl_prints(
    double: ProtocolDouble, make_config: ConfigFactory, kubeconfig: Path
) -> None:
    async with running(make_config(kubeconfig=kubeconfig)):
        pods, node, logs = await run_all(
            double, ("get", "pods", "-A"), ("describe", "node", "node-1"), ("logs", "api", "-n", "shop")
        )
    assert pods["success"], pods
    assert pods["output"].splitlines()[0].split() == [
        "NAMESPACE",
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
    ]
    assert pods["output"].splitlines()[1].split()[:4] == ["shop", "api", "1/1", "Running"]
    assert pods["exit_code"] == 0
    assert node["success"], node
    assert "Name:               node-1" in node["output"]
    assert logs == {
        "success": True,
        "output": "INFO starting shop-api\nINFO listening on :8080\n",
        "error": None,
        "exit_code": 0,
        "execution_time_ms": logs["execution_time_ms"],
        "timed_out": False,
    }


async def test_kubectl_errors_come_back_as_failed_results(
    double: ProtocolDouble, make_config: ConfigFactory, kubeconfig: Path
) -> None:
    async with running(make_config(kubeconfig=kubeconfig)):
        (missing,) = await run_all(double, ("get", "pod", "nope", "-n", "shop"))
    assert not missing["success"]
    assert missing["exit_code"] == 1
    assert 'pods "nope" not found' in missing["error"]


async def test_the_executor_policy_denies_in_read_only_mode(
    double: ProtocolDouble, make_config: ConfigFactory, kubeconfig: Path
) -> None:
    async with running(make_config(kubeconfig=kubeconfig)):
        delete, secrets = await run_all(
            double, ("delete", "pod", "api", "-n", "shop"), ("get", "secrets", "-A")
        )
    for result in (delete, secrets):
        assert not result["success"]
        assert result["exit_code"] is None
        assert result["error"].startswith(DENIED_PREFIX)
    assert "needs fullAccess mode" in delete["error"]
    assert "Secret objects" in secrets["error"]


async def test_a_blocking_command_is_killed_at_its_timeout(
    double: ProtocolDouble, make_config: ConfigFactory, kubeconfig: Path
) -> None:
    async with running(make_config(kubeconfig=kubeconfig)):
        started = time.monotonic()
        (watch,) = await run_all(double, ("get", "pods", "-n", "shop", "-w"), timeout=1.5)
        elapsed = time.monotonic() - started
    assert not watch["success"]
    assert watch["exit_code"] is None
    assert watch["error"] == "timed out after 1.5 s; kubectl and its process group were killed"
    assert watch["timed_out"] is True
    assert "api" in watch["output"]  # what the watch printed before the kill
    assert elapsed < 5
    assert running_with(str(kubeconfig)) == [], "kubectl outlived its timeout"


async def test_output_is_capped_and_marked(
    double: ProtocolDouble, make_config: ConfigFactory, kubeconfig: Path
) -> None:
    async with running(make_config(kubeconfig=kubeconfig, max_output_bytes=2048)):
        (nodes,) = await run_all(double, ("get", "nodes", "-o", "yaml"))
    assert nodes["success"]
    output = nodes["output"]
    head, marker = output.rsplit("\n[output truncated: kept the first 2048 of ", 1)
    assert len(head.encode()) == 2048
    assert int(marker.removesuffix(" bytes]")) > 2048


@pytest.mark.parametrize("output", ["yaml", "json"])
async def test_secret_values_are_redacted_in_full_access_mode(
    double: ProtocolDouble, make_config: ConfigFactory, kubeconfig: Path, output: str
) -> None:
    encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
    async with running(make_config(kubeconfig=kubeconfig, security_mode=SecurityMode.FULL_ACCESS)):
        (secret,) = await run_all(double, ("get", "secret", "db", "-n", "shop", "-o", output))
    assert secret["success"], secret
    text = secret["output"]
    assert "name: db" in text or '"name": "db"' in text
    assert encoded not in text
    assert SECRET_VALUE not in text
    assert REDACTED in text


async def test_slow_commands_run_in_parallel_up_to_the_concurrency(
    double: ProtocolDouble, make_config: ConfigFactory, kubeconfig: Path
) -> None:
    # Each watch ends by itself after 2 s; four in sequence would take over 8 s.
    slow = ("get", "pods", "-A", "-w", "--request-timeout=2s")
    async with running(make_config(kubeconfig=kubeconfig, concurrency=4)):
        await run_all(double, ("get", "nodes"))  # discovery done, the executor idle
        started = time.monotonic()
        results = await run_all(double, slow, slow, slow, slow)
        elapsed = time.monotonic() - started
    assert all(result["success"] for result in results), results
    assert all(result["execution_time_ms"] >= 1900 for result in results)
    assert elapsed < 5.0


WIDGETS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}


async def test_a_crd_created_after_start_is_found_by_refreshing_discovery(
    double: ProtocolDouble, make_config: ConfigFactory, sim_cluster: SimServer
) -> None:
    assert sim_cluster.kubeconfig_path is not None
    async with running(make_config(kubeconfig=sim_cluster.kubeconfig_path)):
        await run_all(double, ("get", "nodes"))  # the first discovery, without widgets
        sim_cluster.cluster.apply(WIDGETS_CRD)
        (widgets,) = await run_all(double, ("get", "wd", "-n", "shop"))
    assert widgets["success"], widgets
    assert "No resources found" in widgets["output"]
    assert any(entry["plural"] == "widgets" for entry in double.discovery or [])


async def test_discovery_is_reported_to_the_server(
    double: ProtocolDouble, make_config: ConfigFactory, kubeconfig: Path
) -> None:
    async with running(make_config(kubeconfig=kubeconfig)):
        await run_all(double, ("get", "nodes"))
        async with asyncio.timeout(5):
            while double.discovery is None:
                await asyncio.sleep(0.01)
    by_name = {(entry["group"], entry["plural"]): entry for entry in double.discovery}
    assert by_name[("", "secrets")] == {
        "plural": "secrets",
        "singular": "secret",
        "kind": "Secret",
        "short_names": [],
        "group": "",
        "namespaced": True,
        "categories": [],
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    }
    assert by_name[("apps", "deployments")]["short_names"] == ["deploy"]
    assert by_name[("apps", "deployments")]["categories"] == ["all"]
    assert ("metrics.k8s.io", "pods") in by_name


async def test_a_server_without_discovery_is_tolerated(make_config: ConfigFactory, kubeconfig: Path) -> None:
    double = ProtocolDouble(discovery_supported=False)
    async with double.serve() as url, running(make_config(kubeconfig=kubeconfig, server_url=url)):
        (pods,) = await run_all(double, ("get", "pods", "-n", "shop"))
    assert pods["success"]


async def test_an_unreachable_cluster_fails_closed(
    double: ProtocolDouble, make_config: ConfigFactory, tmp_path: Path
) -> None:
    broken = tmp_path / "broken-kubeconfig"
    broken.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"  # nothing listens on port 9
        "users: [{name: u, user: {}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    async with running(make_config(kubeconfig=broken)):
        (pods,) = await run_all(double, ("get", "pods"), timeout=5)
        ping = await double.wait_result(double.enqueue(kind="ping"))
    assert ping["success"]  # the executor is alive, it only refuses to run kubectl blind
    assert not pods["success"]
    assert pods["error"].startswith("executor policy unavailable: resource discovery failed")
    assert "refusing every command" in pods["error"]
