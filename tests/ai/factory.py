"""Hand-written Kubernetes objects for analyzer tests, shaped as an API server returns them."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, cast

from pilothouse.ai.analyzers import AnalysisContext, run_analyzers
from pilothouse.ai.findings import Finding
from pilothouse.ai.snapshot import ClusterSnapshot, LogCache
from pilothouse.kube.ops import ClusterOps, KubeApiError, LogQuery

Json = dict[str, Any]
NOW = "2025-06-03T09:10:00Z"
_uids = itertools.count(1)


def uid() -> str:
    return f"00000000-0000-0000-0000-{next(_uids):012d}"


def meta(name: str, namespace: str | None = "default", **extra: Any) -> Json:
    data: Json = {"name": name, "uid": uid(), "creationTimestamp": "2025-06-03T09:00:00Z", **extra}
    if namespace is not None:
        data["namespace"] = namespace
    return data


def owner(obj: Json) -> list[Json]:
    return [
        {
            "apiVersion": "apps/v1",
            "kind": obj["kind"],
            "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"],
            "controller": True,
        }
    ]


def container(name: str = "app", image: str = "acme/app:1.0", **extra: Any) -> Json:
    return {"name": name, "image": image, **extra}


def deployment(
    name: str,
    *,
    replicas: int = 1,
    containers: Sequence[Json] | None = None,
    namespace: str = "default",
    labels: Mapping[str, str] | None = None,
    status: Json | None = None,
    pod_spec: Json | None = None,
) -> Json:
    match = dict(labels or {"app": name})
    spec = {"containers": list(containers or [container()]), **(pod_spec or {})}
    return {
        "kind": "Deployment",
        "metadata": meta(
            name, namespace, labels=match, annotations={"deployment.kubernetes.io/revision": "1"}
        ),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": match},
            "template": {"metadata": {"labels": match}, "spec": spec},
        },
        "status": status or {"replicas": replicas, "availableReplicas": replicas, "readyReplicas": replicas},
    }


def replicaset(parent: Json, *, revision: int = 1, containers: Sequence[Json] | None = None) -> Json:
    name = f"{parent['metadata']['name']}-{revision}abc"
    template = parent["spec"]["template"]
    spec = {**template["spec"], **({"containers": list(containers)} if containers is not None else {})}
    return {
        "kind": "ReplicaSet",
        "metadata": meta(
            name,
            parent["metadata"]["namespace"],
            ownerReferences=owner(parent),
            annotations={"deployment.kubernetes.io/revision": str(revision)},
            labels=template["metadata"]["labels"],
        ),
        "spec": {
            "replicas": 1,
            "selector": parent["spec"]["selector"],
            "template": {**template, "spec": spec},
        },
        "status": {"replicas": 1},
    }


def pod(
    name: str,
    *,
    parent: Json | None = None,
    containers: Sequence[Json] | None = None,
    statuses: Sequence[Json] | None = None,
    init_containers: Sequence[Json] | None = None,
    init_statuses: Sequence[Json] | None = None,
    phase: str = "Running",
    ready: bool = True,
    namespace: str = "default",
    labels: Mapping[str, str] | None = None,
    node: str | None = "node-1",
    conditions: Sequence[Json] | None = None,
    spec: Json | None = None,
    **status: Any,
) -> Json:
    if parent is not None:
        namespace = parent["metadata"]["namespace"]
        spec_base = dict(parent["spec"]["template"]["spec"])
        labels = labels or parent["spec"]["template"]["metadata"]["labels"]
    else:
        spec_base = {"containers": list(containers or [container()])}
    if containers is not None:
        spec_base["containers"] = list(containers)
    if init_containers is not None:
        spec_base["initContainers"] = list(init_containers)
    if node:
        spec_base["nodeName"] = node
    spec_base.update(spec or {})
    names = [c["name"] for c in spec_base["containers"]]
    conds = list(conditions or [{"type": "Ready", "status": "True" if ready else "False"}])
    return {
        "kind": "Pod",
        "metadata": meta(
            name,
            namespace,
            labels=dict(labels or {}),
            **({"ownerReferences": owner(parent)} if parent is not None else {}),
        ),
        "spec": spec_base,
        "status": {
            "phase": phase,
            "conditions": conds,
            "podIP": "10.244.0.9",
            "containerStatuses": list(statuses if statuses is not None else [running(n) for n in names]),
            **({"initContainerStatuses": list(init_statuses)} if init_statuses is not None else {}),
            **status,
        },
    }


def running(
    name: str = "app",
    *,
    ready: bool = True,
    restarts: int = 0,
    last: Json | None = None,
    image: str = "acme/app:1.0",
) -> Json:
    return {
        "name": name,
        "state": {"running": {"startedAt": "2025-06-03T09:00:00Z"}},
        "lastState": {"terminated": last} if last else {},
        "ready": ready,
        "restartCount": restarts,
        "image": image,
        "imageID": f"docker.io/{image}@sha256:abc",
    }


def waiting(
    name: str = "app",
    reason: str = "CrashLoopBackOff",
    message: str = "",
    *,
    restarts: int = 0,
    last: Json | None = None,
    image: str = "acme/app:1.0",
) -> Json:
    return {
        "name": name,
        "state": {"waiting": {"reason": reason, **({"message": message} if message else {})}},
        "lastState": {"terminated": last} if last else {},
        "ready": False,
        "restartCount": restarts,
        "image": image,
        "imageID": "",
    }


def terminated(reason: str = "Error", code: int = 1) -> Json:
    return {
        "reason": reason,
        "exitCode": code,
        "startedAt": "2025-06-03T09:00:00Z",
        "finishedAt": "2025-06-03T09:00:05Z",
    }


def event(obj: Json, reason: str, message: str, *, type_: str = "Warning", count: int = 1) -> Json:
    return {
        "kind": "Event",
        "metadata": meta(
            f"{obj['metadata']['name']}.{next(_uids)}", obj["metadata"].get("namespace") or "default"
        ),
        "involvedObject": {
            "kind": obj["kind"],
            "namespace": obj["metadata"].get("namespace"),
            "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"],
        },
        "reason": reason,
        "message": message,
        "type": type_,
        "count": count,
        "lastTimestamp": NOW,
    }


def node(
    name: str = "node-1",
    *,
    ready: str = "True",
    memory: str = "16Gi",
    cpu: str = "4",
    taints: Sequence[Json] | None = None,
    labels: Mapping[str, str] | None = None,
    **conditions: str,
) -> Json:
    conds = [
        {
            "type": "Ready",
            "status": ready,
            "reason": "KubeletReady" if ready == "True" else "NodeStatusUnknown",
            "message": "kubelet is posting ready status"
            if ready == "True"
            else "Kubelet stopped posting node status.",
            "lastHeartbeatTime": NOW,
            "lastTransitionTime": "2025-06-03T09:01:00Z",
        }
    ]
    conds += [
        {"type": kind, "status": value, "reason": f"Kubelet{kind}", "message": f"{kind} is {value}"}
        for kind, value in conditions.items()
    ]
    return {
        "kind": "Node",
        "metadata": meta(name, None, labels={"kubernetes.io/hostname": name, **(labels or {})}),
        "spec": {"taints": list(taints)} if taints else {},
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"}, "conditions": conds},
    }


def service(
    name: str, selector: Mapping[str, str], ports: Sequence[Json], namespace: str = "default"
) -> Json:
    return {
        "kind": "Service",
        "metadata": meta(name, namespace),
        "spec": {
            "selector": dict(selector),
            "ports": list(ports),
            "clusterIP": f"10.96.0.{next(_uids) % 250}",
        },
    }


def obj(kind: str, name: str, namespace: str | None = "default", **fields: Any) -> Json:
    return {"kind": kind, "metadata": meta(name, namespace), **fields}


class FakeLogs:
    """``pod_logs`` from a dict: (namespace, pod, container, previous) -> lines."""

    def __init__(self, logs: Mapping[tuple[str, str, str, bool], Sequence[str]]) -> None:
        self._logs = logs

    def pod_logs(self, namespace: str, name: str, query: LogQuery) -> AsyncIterator[bytes]:
        lines = self._logs.get((namespace, name, query.container or "", query.previous))

        async def chunks() -> AsyncIterator[bytes]:
            if lines is None:
                raise KubeApiError(400, "BadRequest", "no such log")
            yield ("\n".join(lines) + "\n").encode()

        return chunks()


def snapshot(
    *objects: Json,
    logs: Mapping[tuple[str, str, str, bool], Sequence[str]] | None = None,
    pod_metrics: list[Json] | None = None,
) -> ClusterSnapshot:
    """A snapshot holding the objects, each in the collection of its kind."""
    attrs = {
        "Pod": "pods",
        "Node": "nodes",
        "Event": "events",
        "Deployment": "deployments",
        "ReplicaSet": "replicasets",
        "StatefulSet": "statefulsets",
        "DaemonSet": "daemonsets",
        "Job": "jobs",
        "CronJob": "cronjobs",
        "Service": "services",
        "Endpoints": "endpoints",
        "Ingress": "ingresses",
        "IngressClass": "ingressclasses",
        "PersistentVolumeClaim": "pvcs",
        "PersistentVolume": "pvs",
        "StorageClass": "storageclasses",
        "HorizontalPodAutoscaler": "hpas",
        "PodDisruptionBudget": "pdbs",
        "NetworkPolicy": "networkpolicies",
        "ConfigMap": "configmaps",
        "Secret": "secrets",
        "ServiceAccount": "serviceaccounts",
        "ResourceQuota": "resourcequotas",
        "Role": "roles",
        "RoleBinding": "rolebindings",
        "ClusterRole": "clusterroles",
        "ClusterRoleBinding": "clusterrolebindings",
    }
    lists: dict[str, list[Json]] = {}
    for item in objects:
        lists.setdefault(attrs[item["kind"]], []).append(item)
    snap = ClusterSnapshot(pod_metrics=pod_metrics, **lists)  # type: ignore[arg-type]
    snap.logs = LogCache(cast(ClusterOps, FakeLogs(logs or {})))
    return snap


async def analyze(snap: ClusterSnapshot, *names: str) -> list[Finding]:
    return await run_analyzers(AnalysisContext(snap), names or None)
