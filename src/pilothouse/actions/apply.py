"""Turning a proposed remediation into an API call, applying it, and checking it worked.

Every change is sent twice: first with ``dryRun=All`` (admission, validation and quota say
whether it would be accepted), then for real. Verification then watches the outcome: the
workload's rollout completes with every replica ready and no container restarting during a
stability window; a deleted pod is replaced; a node's schedulability is what was asked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pilothouse.kube.ops import ClusterOps, JsonObject, KubeApiError, ListQuery, PatchType, ResourceType
from pilothouse.kube.resolver import ResourceResolver

TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"})
REVISION = "deployment.kubernetes.io/revision"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
# A rollout counts as healthy once its pods have stayed ready, without restarting, this long.
STABLE_SECONDS = 20.0
POLL_SECONDS = 1.0


class ActionPlanError(ValueError):
    """The remediation cannot be turned into a change of this cluster."""


@dataclass(frozen=True)
class Plan:
    resource: ResourceType
    namespace: str | None
    name: str
    # "patch" or "delete"
    verb: str
    patch_type: PatchType | None = None
    body: Any = None

    def describe(self) -> dict[str, Any]:
        return {
            "verb": self.verb,
            "kind": self.resource.kind,
            "namespace": self.namespace,
            "name": self.name,
            "patch_type": self.patch_type.value if self.patch_type else None,
            "body": self.body,
        }


def _pod_template_path(kind: str) -> list[str]:
    return ["spec", "jobTemplate", "spec", "template"] if kind == "CronJob" else ["spec", "template"]


def _nest(path: list[str], leaf: Any) -> Any:
    for key in reversed(path):
        leaf = {key: leaf}
    return leaf


async def plan(ops: ClusterOps, resolver: ResourceResolver, operation: dict[str, Any]) -> Plan:
    """The API call that carries out ``operation`` (an ai.findings.Remediation as JSON)."""
    op = str(operation.get("operation"))
    target = operation.get("target") or {}
    params: dict[str, Any] = dict(operation.get("params") or {})
    resource = await resolver.resolve(str(target.get("kind")))
    namespace = target.get("namespace") if resource.namespaced else None
    name = str(target.get("name"))
    kind = resource.kind
    if op == "delete_pod":
        return Plan(resource, namespace, name, "delete")
    if op in ("cordon", "uncordon"):
        if kind != "Node":
            raise ActionPlanError(f"{op} applies to nodes, not {kind}")
        return Plan(
            resource, None, name, "patch", PatchType.MERGE, {"spec": {"unschedulable": op == "cordon"}}
        )
    if op == "scale":
        replicas = params.get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ActionPlanError("scale needs a replica count")
        return Plan(resource, namespace, name, "patch", PatchType.MERGE, {"spec": {"replicas": replicas}})
    if op == "patch":
        kinds = {"json": PatchType.JSON, "merge": PatchType.MERGE, "strategic": PatchType.STRATEGIC}
        patch_type = kinds.get(str(params.get("patch_type") or "merge"))
        if patch_type is None or "patch" not in params:
            raise ActionPlanError("patch needs patch_type (json, merge or strategic) and patch")
        return Plan(resource, namespace, name, "patch", patch_type, params["patch"])
    if kind not in TEMPLATE_KINDS | {"CronJob"}:
        raise ActionPlanError(f"{op} applies to workloads with a pod template, not {kind}")
    template = _pod_template_path(kind)
    if op == "rollout_restart":
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = _nest(template, {"metadata": {"annotations": {RESTARTED_AT: stamp}}})
        return Plan(resource, namespace, name, "patch", PatchType.STRATEGIC, body)
    if op in ("set_resources", "set_image"):
        container = params.get("container")
        if not container:
            raise ActionPlanError(f"{op} needs the container's name")
        change: dict[str, Any] = {"name": container}
        if op == "set_image":
            if not params.get("image"):
                raise ActionPlanError("set_image needs the image")
            change["image"] = params["image"]
        else:
            resources = params.get("resources")
            if not isinstance(resources, dict):
                raise ActionPlanError("set_resources needs resources {limits, requests}")
            change["resources"] = resources
        body = _nest(template, {"spec": {"containers": [change]}})
        return Plan(resource, namespace, name, "patch", PatchType.STRATEGIC, body)
    if op == "rollback":
        if kind != "Deployment":
            raise ActionPlanError("rollback applies to Deployments")
        previous = await _revision_template(
            ops, resolver, namespace or "default", name, params.get("revision")
        )
        return Plan(
            resource,
            namespace,
            name,
            "patch",
            PatchType.JSON,
            [{"op": "replace", "path": "/spec/template", "value": previous}],
        )
    raise ActionPlanError(f"unknown operation {op}")


async def _revision_template(
    ops: ClusterOps, resolver: ResourceResolver, namespace: str, name: str, revision: Any
) -> JsonObject:
    """The pod template of one of a Deployment's earlier revisions (the previous one by default)."""
    deployments = await resolver.resolve("deployments")
    replicasets = await resolver.resolve("replicasets")
    deployment = await ops.get(deployments, name, namespace)
    uid = deployment["metadata"]["uid"]
    owned = [
        rs
        for rs in (await ops.list(replicasets, ListQuery(namespace=namespace))).items
        if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences") or [])
    ]
    by_revision = {
        int(rs["metadata"].get("annotations", {}).get(REVISION, "0")): rs
        for rs in owned
        if rs["metadata"].get("annotations", {}).get(REVISION)
    }
    current = int(deployment["metadata"].get("annotations", {}).get(REVISION, "0"))
    wanted = (
        int(revision) if revision is not None else max((r for r in by_revision if r < current), default=0)
    )
    chosen = by_revision.get(wanted)
    if chosen is None or wanted == current:
        raise ActionPlanError(
            f"deployment {namespace}/{name} has no revision {wanted or 'before ' + str(current)}"
        )
    template = dict(chosen["spec"]["template"])
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.pop("pod-template-hash", None)
    template["metadata"] = {**(template.get("metadata") or {}), "labels": labels}
    return template


async def execute(ops: ClusterOps, chosen: Plan, *, dry_run: bool) -> JsonObject:
    if chosen.verb == "delete":
        return await ops.delete(chosen.resource, chosen.name, chosen.namespace, dry_run=dry_run)
    assert chosen.patch_type is not None
    return await ops.patch(
        chosen.resource, chosen.name, chosen.body, chosen.patch_type, chosen.namespace, dry_run=dry_run
    )


@dataclass
class Verification:
    verified: bool
    detail: str
    observations: list[str]


async def verify(
    ops: ClusterOps,
    resolver: ResourceResolver,
    chosen: Plan,
    *,
    timeout_seconds: float,
    monotonic: Callable[[], float] = time.monotonic,
    stable_seconds: float = STABLE_SECONDS,
) -> Verification:
    """Whether the change had the effect it was meant to, within ``timeout_seconds``."""
    deadline = monotonic() + timeout_seconds
    observations: list[str] = []
    stable_since: float | None = None
    last_restarts: int | None = None
    while monotonic() < deadline:
        try:
            state = await _observe(ops, resolver, chosen)
        except KubeApiError as error:
            state = (False, f"cannot read {chosen.resource.kind} {chosen.name}: {error.message}", None)
        healthy, detail, restarts = state
        if not observations or observations[-1] != detail:
            observations.append(detail)
        if healthy and (last_restarts is None or restarts == last_restarts):
            stable_since = stable_since if stable_since is not None else monotonic()
            if monotonic() - stable_since >= stable_seconds or chosen.resource.kind == "Node":
                return Verification(True, detail, observations)
        else:
            stable_since = None
        last_restarts = restarts
        await asyncio.sleep(POLL_SECONDS)
    return Verification(
        False,
        f"not healthy within {timeout_seconds:g} s: {observations[-1] if observations else 'no observation'}",
        observations,
    )


async def _observe(ops: ClusterOps, resolver: ResourceResolver, chosen: Plan) -> tuple[bool, str, int | None]:
    kind = chosen.resource.kind
    if kind == "Node":
        node = await ops.get(chosen.resource, chosen.name)
        wanted = bool((chosen.body or {}).get("spec", {}).get("unschedulable"))
        actual = bool(node.get("spec", {}).get("unschedulable"))
        return actual == wanted, f"node {chosen.name} unschedulable={actual}", None
    pods_type = await resolver.resolve("pods")
    namespace = chosen.namespace or "default"
    if chosen.verb == "delete" and kind == "Pod":
        try:
            await ops.get(pods_type, chosen.name, namespace)
        except KubeApiError as error:
            if error.status == 404:
                return True, f"pod {namespace}/{chosen.name} is gone", None
            raise
        return False, f"pod {namespace}/{chosen.name} still exists", None
    workload = await ops.get(chosen.resource, chosen.name, chosen.namespace)
    spec, status = workload.get("spec") or {}, workload.get("status") or {}
    selector = ",".join(
        f"{k}={v}" for k, v in ((spec.get("selector") or {}).get("matchLabels") or {}).items()
    )
    pods = (
        (await ops.list(pods_type, ListQuery(namespace=namespace, label_selector=selector or None))).items
        if selector
        else []
    )
    live = [pod for pod in pods if not pod["metadata"].get("deletionTimestamp")]
    ready = sum(1 for pod in live if _ready(pod))
    restarts = sum(
        int(c.get("restartCount", 0))
        for pod in live
        for c in (pod.get("status") or {}).get("containerStatuses") or []
    )
    desired = (
        int(spec.get("replicas", 1)) if kind != "DaemonSet" else int(status.get("desiredNumberScheduled", 0))
    )
    generation_seen = int(status.get("observedGeneration", 0)) >= int(
        workload["metadata"].get("generation", 0)
    )
    updated = int(status.get("updatedReplicas", status.get("updatedNumberScheduled", desired)) or 0)
    healthy = generation_seen and updated >= desired and ready >= desired and len(live) == desired
    where = f"{kind} {namespace}/{chosen.name}"
    detail = f"{where}: {ready}/{desired} pods ready, {updated} updated, {restarts} restarts"
    return healthy, detail, restarts


def _ready(pod: JsonObject) -> bool:
    return any(
        condition.get("type") == "Ready" and condition.get("status") == "True"
        for condition in (pod.get("status") or {}).get("conditions") or []
    )
