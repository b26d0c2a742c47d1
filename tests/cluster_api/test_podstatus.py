"""The STATUS kubectl prints for a pod: hand-made pods, then every pod of the simulated scenarios
against the simulated API server's own Table printing (which mirrors kubectl's printPod)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.printing import build_table
from pilothouse.sim.scenario import builtin_scenario_names, install, load_scenario
from pilothouse.topology.podstatus import pod_status

STATUS_COLUMN = 2


def pod(
    phase: str = "Running",
    containers: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    init_specs: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    deleting: bool = False,
    reason: str | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "containerStatuses": containers or []}
    if init is not None:
        status["initContainerStatuses"] = init
    if conditions is not None:
        status["conditions"] = conditions
    if reason:
        status["reason"] = reason
    metadata: dict[str, Any] = {"name": "p"}
    if deleting:
        metadata["deletionTimestamp"] = "2026-02-10T02:00:00Z"
    return {"metadata": metadata, "spec": {"initContainers": init_specs or []}, "status": status}


RUNNING = {"name": "a", "ready": True, "state": {"running": {"startedAt": "2026-02-10T02:00:00Z"}}}
CRASHING = {
    "name": "b",
    "ready": False,
    "restartCount": 4,
    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
}
COMPLETED = {"name": "c", "ready": False, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
ERROR = {"name": "d", "ready": False, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}
OOM = {"name": "e", "ready": False, "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}
SIGNALLED = {"name": "f", "ready": False, "state": {"terminated": {"exitCode": 143, "signal": 15}}}
READY = [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}]


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (pod(containers=[RUNNING]), "Running"),
        (pod(containers=[RUNNING, CRASHING]), "CrashLoopBackOff"),
        (pod(containers=[CRASHING, RUNNING]), "CrashLoopBackOff"),
        (pod(phase="Succeeded", containers=[COMPLETED]), "Completed"),
        (pod(phase="Failed", containers=[ERROR]), "Error"),
        (pod(containers=[OOM]), "OOMKilled"),
        (pod(containers=[SIGNALLED]), "Signal:15"),
        (
            pod(containers=[{"name": "x", "state": {"terminated": {"exitCode": 2}}}]),
            "ExitCode:2",
        ),
        # A completed container next to a running one: Running when the pod is ready.
        (pod(containers=[COMPLETED, RUNNING], conditions=READY), "Running"),
        (pod(containers=[COMPLETED, RUNNING], conditions=[]), "NotReady"),
        (
            pod(
                phase="Pending",
                containers=[{"name": "a", "state": {"waiting": {"reason": "ContainerCreating"}}}],
            ),
            "ContainerCreating",
        ),
        (
            pod(
                phase="Pending", containers=[{"name": "a", "state": {"waiting": {"reason": "ErrImagePull"}}}]
            ),
            "ErrImagePull",
        ),
        (pod(phase="Pending"), "Pending"),
        # Init containers: the first one not done decides.
        (
            pod(
                phase="Pending",
                init=[{"name": "i", "state": {"running": {}}}],
                init_specs=[{"name": "i"}, {"name": "j"}],
            ),
            "Init:0/2",
        ),
        (
            pod(
                phase="Pending",
                init=[{"name": "i", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}],
                init_specs=[{"name": "i"}],
            ),
            "Init:CrashLoopBackOff",
        ),
        (
            pod(
                phase="Pending",
                init=[{"name": "i", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}],
                init_specs=[{"name": "i"}],
            ),
            "Init:Error",
        ),
        (
            pod(
                phase="Pending",
                init=[{"name": "i", "state": {"waiting": {"reason": "PodInitializing"}}}],
                init_specs=[{"name": "i"}],
            ),
            "Init:0/1",
        ),
        # A started sidecar does not hold the pod in Init.
        (
            pod(
                init=[{"name": "s", "started": True, "state": {"running": {}}}],
                init_specs=[{"name": "s", "restartPolicy": "Always"}],
                containers=[RUNNING],
                conditions=READY,
            ),
            "Running",
        ),
        (
            pod(phase="Pending", conditions=[{"type": "PodScheduled", "reason": "SchedulingGated"}]),
            "SchedulingGated",
        ),
        (pod(phase="Failed", reason="Evicted"), "Evicted"),
        # Deletion.
        (pod(containers=[RUNNING], deleting=True), "Terminating"),
        (pod(containers=[CRASHING], deleting=True), "Terminating"),
        (pod(phase="Succeeded", containers=[COMPLETED], deleting=True), "Completed"),
        (pod(containers=[RUNNING], deleting=True, reason="NodeLost"), "Unknown"),
        # Nothing at all.
        ({}, "Unknown"),
        ({"status": None, "spec": "junk", "metadata": []}, "Unknown"),
    ],
)
def test_status(obj: dict[str, Any], expected: str) -> None:
    assert pod_status(obj) == expected


@pytest.mark.parametrize("scenario", builtin_scenario_names())
def test_agrees_with_the_simulated_kubectl_table(tmp_path: Path, scenario: str) -> None:
    cluster = SimCluster(seed=7, manual_clock=True, data_dir=tmp_path / "sim")
    install(cluster, load_scenario(scenario))
    checked = 0
    for seconds in (5, 40, 120):
        cluster.advance(seconds, step=1.0)
        pods = cluster.objects_of("", "Pod")
        table = build_table("", "Pod", pods, now=cluster.clock.now())
        for obj, row in zip(pods, table["rows"], strict=True):
            assert pod_status(obj) == row["cells"][STATUS_COLUMN], obj["metadata"]["name"]
            checked += 1
    assert checked > 0
