"""Builders for the workload-controller tests: manifests, and the pod status a kubelet would write.

Clusters run without the kubelet (simkit.make_cluster), so tests move pods through their phases
here: `ready` (running and Ready since now), `finish` (Succeeded or Failed with an exit), and
`settle` to make every pending pod of a cluster ready.
"""

from __future__ import annotations

from typing import Any

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.controllers.daemonset import target_node
from pilothouse.sim.objects import DeleteOptions, rfc3339
from pilothouse.sim.podutil import is_pod_ready, is_pod_terminal
from pilothouse.sim.store import JsonObject, clone
from tests.sim.controllers.simkit import get

NS = "default"


def template(app: str, image: str = "nginx:1.27", **pod_spec: Any) -> JsonObject:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": "app", "image": image}], **pod_spec},
    }


def workload(
    kind: str, name: str, image: str = "nginx:1.27", replicas: int | None = 3, **spec: Any
) -> JsonObject:
    """A Deployment, ReplicaSet, StatefulSet or DaemonSet selecting `app: <name>`."""
    body: JsonObject = {"selector": {"matchLabels": {"app": name}}, "template": template(name, image), **spec}
    if replicas is not None:
        body["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": NS}, "spec": body}


def job(name: str, image: str = "busybox:1.37", **spec: Any) -> JsonObject:
    pod_template = template(name, image, restartPolicy="Never")
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"template": pod_template, **spec},
    }


def pods(cluster: SimCluster, prefix: str = "") -> list[JsonObject]:
    """Pods whose name starts with `prefix`, not being deleted, sorted by name."""
    return [
        p
        for p in cluster.objects_of("", "Pod", NS)
        if p["metadata"]["name"].startswith(prefix) and not p["metadata"].get("deletionTimestamp")
    ]


def names(objects: list[JsonObject]) -> list[str]:
    return [obj["metadata"]["name"] for obj in objects]


def _write_status(cluster: SimCluster, pod: JsonObject, **status: Any) -> JsonObject:
    updated = clone(get(cluster, "Pod", NS, pod["metadata"]["name"]))
    # Bound where the scheduler would put it: a daemon pod's own node, any other pod on node-1.
    updated["spec"]["nodeName"] = target_node(updated) or "node-1"
    updated.setdefault("status", {}).update(status)
    saved = cluster.objects.save(cluster.resource("", "Pod"), updated)
    cluster.engine.drain()
    return saved


def ready(cluster: SimCluster, pod: JsonObject, *, is_ready: bool = True) -> JsonObject:
    """Running, Ready (or not) since now."""
    now = rfc3339(cluster.clock.now())
    condition = {"type": "Ready", "status": "True" if is_ready else "False", "lastTransitionTime": now}
    return _write_status(
        cluster,
        pod,
        phase="Running",
        conditions=[condition],
        containerStatuses=[
            {"name": "app", "ready": is_ready, "restartCount": 0, "state": {"running": {"startedAt": now}}}
        ],
    )


def finish(cluster: SimCluster, pod: JsonObject, *, succeeded: bool) -> JsonObject:
    """The container exited now: Succeeded with 0, or Failed with 1."""
    now = rfc3339(cluster.clock.now())
    exit_code = 0 if succeeded else 1
    terminated = {"exitCode": exit_code, "reason": "Completed" if succeeded else "Error", "finishedAt": now}
    return _write_status(
        cluster,
        pod,
        phase="Succeeded" if succeeded else "Failed",
        conditions=[{"type": "Ready", "status": "False", "lastTransitionTime": now}],
        containerStatuses=[
            {"name": "app", "ready": False, "restartCount": 0, "state": {"terminated": terminated}}
        ],
    )


def settle(cluster: SimCluster, prefix: str = "", rounds: int = 20) -> None:
    """Make pods ready until no new pod appears (each readiness may let a controller go on)."""
    for _ in range(rounds):
        waiting = [p for p in pods(cluster, prefix) if not is_pod_ready(p) and not is_pod_terminal(p)]
        if not waiting:
            return
        for pod in waiting:
            ready(cluster, pod)
    raise AssertionError("pods kept appearing")


def remove_terminating(cluster: SimCluster) -> None:
    """What the kubelet does for pods being deleted: finish their deletion."""
    resource = cluster.resource("", "Pod")
    for pod in cluster.objects_of("", "Pod", NS):
        if pod["metadata"].get("deletionTimestamp"):
            cluster.objects.finish_deletion(resource, pod)
    cluster.engine.drain()


def patch_spec(cluster: SimCluster, group: str, kind: str, name: str, **changes: Any) -> JsonObject:
    """Change top-level spec fields as a client's update would (generation bumps)."""
    updated = clone(get(cluster, kind, NS, name, group))
    updated["spec"].update(changes)
    saved = cluster.objects.save(cluster.resource(group, kind), updated)
    cluster.engine.drain()
    return saved


def set_image(cluster: SimCluster, group: str, kind: str, name: str, image: str) -> JsonObject:
    obj = get(cluster, kind, NS, name, group)
    pod_template = clone(obj["spec"]["template"])
    pod_template["spec"]["containers"][0]["image"] = image
    return patch_spec(cluster, group, kind, name, template=pod_template)


def delete(cluster: SimCluster, group: str, kind: str, name: str) -> None:
    cluster.objects.delete(cluster.resource(group, kind), NS, name, DeleteOptions())
    cluster.engine.drain()


def writes(cluster: SimCluster) -> int:
    """The store's resourceVersion: unchanged means nothing was written."""
    return cluster.store.resource_version
