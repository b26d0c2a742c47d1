"""Small builders shared by the cluster-controller tests: a manual-clock cluster, nodes, pods.

The tests run without the kubelet, so they write the pod status a kubelet would (phase, IP,
Ready) themselves through `run_pod`.
"""

from __future__ import annotations

from typing import Any

from pilothouse.sim.cluster import ControllerFactory, SimCluster
from pilothouse.sim.objects import rfc3339
from pilothouse.sim.store import JsonObject, clone

START = 1_700_000_000.0


def make_cluster(*factories: ControllerFactory) -> SimCluster:
    return SimCluster(manual_clock=True, start_time=START, controllers=list(factories), with_kubelet=False)


def node(name: str, ready: str = "True", **spec: Any) -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": dict(spec),
        "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady"}]},
    }


def set_node_ready(cluster: SimCluster, name: str, status: str) -> None:
    updated = clone(get(cluster, "Node", "", name))
    for cond in updated["status"]["conditions"]:
        if cond["type"] == "Ready":
            cond["status"] = status
    cluster.objects.save(cluster.resource("", "Node"), updated)
    cluster.engine.drain()


def pod(
    name: str,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    requests: dict[str, str] | None = None,
    limits: dict[str, str] | None = None,
    **spec: Any,
) -> JsonObject:
    resources: JsonObject = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    container = {
        "name": "app",
        "image": "nginx:1.27",
        "resources": resources,
        "ports": [{"name": "http", "containerPort": 8080}],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": "web"}},
        "spec": {"containers": [container], **spec},
    }


def run_pod(
    cluster: SimCluster,
    namespace: str,
    name: str,
    *,
    ip: str | None,
    node_name: str = "node-1",
    ready: bool = True,
    phase: str = "Running",
    ready_since: float = START,
) -> JsonObject:
    """Write what the scheduler and kubelet would: bound to a node, running, with an IP and readiness."""
    updated = clone(get(cluster, "Pod", namespace, name))
    updated["spec"]["nodeName"] = node_name
    status = updated.setdefault("status", {})
    status.update(
        phase=phase,
        startTime=rfc3339(START),
        conditions=[
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "lastTransitionTime": rfc3339(ready_since),
            }
        ],
    )
    if ip:
        status["podIP"] = ip
    saved = cluster.objects.save(cluster.resource("", "Pod"), updated)
    cluster.engine.drain()
    return saved


def events(cluster: SimCluster, obj: JsonObject) -> list[tuple[str, str, str]]:
    """(type, reason, message) of the events about an object, oldest first."""
    return [(e["type"], e["reason"], e["message"]) for e in cluster.events_for(obj)]


def get(cluster: SimCluster, kind: str, namespace: str, name: str, group: str = "") -> JsonObject:
    obj = cluster.get(group, kind, namespace, name)
    assert obj is not None, f"{kind} {namespace}/{name} is missing"
    return obj
