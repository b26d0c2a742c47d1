"""The cluster topology: every list read once, concurrently, and joined in memory.

The work is linear in the size of the cluster: one ``list`` per resource type (all issued
together), one pass over each list, and dictionaries for every join: pods to nodes by
``spec.nodeName``, pods to workloads by ``ownerReferences`` uid (Deployment -> ReplicaSet -> Pod,
CronJob -> Job -> Pod), services to workloads and pods through an index of ``(label, value)``
pairs, so a selector costs the size of its smallest matching set rather than a scan. No call is
made per pod or per node.

For a large cluster the time goes to reading the pod list, not to joining it: with 1,000 nodes
and 10,000 pods the pods are 25 MB of JSON, whose transfer and parsing inside ``ClusterOps.list``
take several times longer than the joins here (tmp/topology_bench.py measures both).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections import Counter, defaultdict
from collections.abc import Awaitable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pilothouse.contexts.service import kubernetes_version
from pilothouse.errors import ServiceUnavailable
from pilothouse.events.schemas import EventItem
from pilothouse.events.service import escape_field_value, recent_warnings
from pilothouse.kube.ops import ClusterOps, JsonObject, KubeApiError, ListQuery, ResourceType
from pilothouse.kube.quantity import percent
from pilothouse.kube.resolver import ResourceResolver, UnknownResourceKind
from pilothouse.metrics.service import NodeUsage, byte_count, cores, node_status, node_usage, quantity
from pilothouse.topology.podstatus import pod_status
from pilothouse.topology.schemas import (
    ClusterSummary,
    Container,
    NetworkPolicies,
    NodePod,
    OwnedObject,
    Pod,
    Service,
    Taint,
    Topology,
    TopologyNamespace,
    TopologyNode,
    Workload,
    WorkloadCounts,
)
from pilothouse.topology.schemas import NodeUsage as NodeUsageOut

MIN_DEPTH = 1
MAX_DEPTH = 5
DEFAULT_DEPTH = 3
RECENT_EVENTS = 50
ROLE_LABEL_PREFIX = "node-role.kubernetes.io/"
LEGACY_ROLE_LABEL = "kubernetes.io/role"

# The resource types read, by the name the resolver knows them under. Optional ones may be
# missing from a cluster (an old one without batch/v1 CronJobs): they read as empty.
_REQUIRED = ("nodes", "pods", "services", "namespaces")
_OPTIONAL = (
    "deployments.apps",
    "replicasets.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "jobs.batch",
    "cronjobs.batch",
    "networkpolicies.networking.k8s.io",
    "resourcequotas",
)
# Workload kinds in the order a namespace lists them.
_KIND_ORDER = {"Deployment": 0, "StatefulSet": 1, "DaemonSet": 2, "CronJob": 3, "Job": 4, "ReplicaSet": 5}


@dataclass(frozen=True, slots=True)
class TopologyQuery:
    depth: int = DEFAULT_DEPTH
    include_metrics: bool = True
    include_events: bool = False
    namespace: str | None = None


@dataclass(slots=True)
class _Lists:
    nodes: list[JsonObject]
    pods: list[JsonObject]
    services: list[JsonObject]
    namespaces: list[JsonObject]
    deployments: list[JsonObject]
    replicasets: list[JsonObject]
    statefulsets: list[JsonObject]
    daemonsets: list[JsonObject]
    jobs: list[JsonObject]
    cronjobs: list[JsonObject]
    networkpolicies: list[JsonObject]
    resourcequotas: list[JsonObject]


async def topology(
    ops: ClusterOps,
    resolver: ResourceResolver,
    cluster_name: str,
    query: TopologyQuery,
    *,
    now: datetime | None = None,
) -> Topology:
    depth = min(max(query.depth, MIN_DEPTH), MAX_DEPTH)
    types = await _resource_types(resolver)
    namespace = query.namespace or None

    def listing(
        name: str, *, needed: bool = True, field_selector: str | None = None
    ) -> Awaitable[list[JsonObject]]:
        return _items(ops, types.get(name), namespace, field_selector) if needed else _nothing()

    metrics_call = _node_usage(ops, resolver) if query.include_metrics else _no_usage()
    events_call = (
        recent_warnings(ops, resolver, namespace=namespace, limit=RECENT_EVENTS, now=now)
        if query.include_events
        else _no_events()
    )
    namespace_selector = f"metadata.name={escape_field_value(namespace)}" if namespace else None
    # Everything at once: the slowest list sets the latency, not the sum of them.
    all_lists = asyncio.gather(
        listing("nodes"),
        listing("pods"),
        listing("services"),
        listing("namespaces", field_selector=namespace_selector),
        listing("deployments.apps"),
        # ReplicaSets only link pods to their Deployments, which depth 3 starts to show.
        listing("replicasets.apps", needed=depth >= 3),
        listing("statefulsets.apps"),
        listing("daemonsets.apps"),
        listing("jobs.batch"),
        listing("cronjobs.batch"),
        listing("networkpolicies.networking.k8s.io"),
        listing("resourcequotas"),
    )
    version, usage, events, listed = await asyncio.gather(
        ops.server_version(), metrics_call, events_call, all_lists
    )
    lists = _Lists(*listed)
    with _collector_paused():
        return _assemble(cluster_name, kubernetes_version(version), lists, depth, query, usage, events)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while the topology is assembled.

    Assembling allocates tens of thousands of small objects next to the million the parsed
    lists hold; every few thousand allocations the collector would walk the young ones again,
    which cost up to a third of the assembly of a 10,000-pod cluster in measurements. The section is
    synchronous (no other coroutine runs meanwhile) and creates no reference cycles, so nothing
    is lost by collecting once afterwards instead.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def _resource_types(resolver: ResourceResolver) -> dict[str, ResourceType | None]:
    async def optional(name: str) -> ResourceType | None:
        try:
            return await resolver.resolve(name)
        except UnknownResourceKind:
            return None

    required = await asyncio.gather(*(resolver.resolve(name) for name in _REQUIRED))
    optional_types = await asyncio.gather(*(optional(name) for name in _OPTIONAL))
    return {
        **dict(zip(_REQUIRED, required, strict=True)),
        **dict(zip(_OPTIONAL, optional_types, strict=True)),
    }


async def _items(
    ops: ClusterOps, resource: ResourceType | None, namespace: str | None, field_selector: str | None
) -> list[JsonObject]:
    if resource is None:
        return []
    query = ListQuery(namespace=namespace if resource.namespaced else None, field_selector=field_selector)
    return (await ops.list(resource, query)).items


async def _nothing() -> list[JsonObject]:
    return []


async def _no_usage() -> dict[str, NodeUsage] | None:
    return None


async def _no_events() -> list[EventItem] | None:
    return None


async def _node_usage(ops: ClusterOps, resolver: ResourceResolver) -> dict[str, NodeUsage] | None:
    """Node usage, or None when metrics-server is missing, down or forbidden to us.

    Metrics decorate the topology; their absence must not cost the caller the rest of it.
    """
    try:
        return await node_usage(ops, resolver)
    except (ServiceUnavailable, KubeApiError):
        return None


# --- assembling ---------------------------------------------------------------------------------
#
# Hot loops below touch every pod once or twice: they use dict.get directly rather than helpers,
# build TypedDicts rather than models, and sort the pods once so that every grouping of them
# (per node, per workload, per namespace) comes out already in order.

_EMPTY: JsonObject = {}


def _meta(obj: JsonObject) -> JsonObject:
    metadata = obj.get("metadata")
    return metadata if type(metadata) is dict else _EMPTY


def _controller_uid(metadata: JsonObject) -> str | None:
    """The uid of the object's controlling owner (the ownerReference with controller: true)."""
    references = metadata.get("ownerReferences")
    if type(references) is list:
        for reference in references:
            if type(reference) is dict and reference.get("controller"):
                return str(reference.get("uid") or "") or None
    return None


def _labels(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if type(value) is dict else {}


@dataclass(slots=True)
class _PodInfo:
    namespace: str
    name: str
    status: str
    node: str | None
    owner: str | None
    obj: JsonObject


@dataclass(slots=True)
class _Owned:
    kind: str
    name: str
    replicas: int
    pods: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Workload:
    kind: str
    name: str
    namespace: str
    template_labels: dict[str, str]
    replicas: int | None
    ready_replicas: int | None
    pods: list[_PodInfo] = field(default_factory=list)
    owned: dict[str, _Owned] = field(default_factory=dict)
    services: list[str] = field(default_factory=list)


def _int_or_none(value: Any) -> int | None:
    return value if type(value) is int else None


def _template_labels(obj: JsonObject, *path: str) -> dict[str, str]:
    value: Any = obj
    for key in path:
        value = value.get(key) if type(value) is dict else None
    return _labels(value)


def _workload(kind: str, obj: JsonObject) -> _Workload:
    meta = _meta(obj)
    spec = obj.get("spec") or _EMPTY
    status = obj.get("status") or _EMPTY
    replicas: int | None = None
    ready: int | None = None
    labels = _template_labels(spec, "template", "metadata", "labels")
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        replicas = _int_or_none(spec.get("replicas"))
        ready = _int_or_none(status.get("readyReplicas")) or 0
    elif kind == "DaemonSet":
        replicas = _int_or_none(status.get("desiredNumberScheduled"))
        ready = _int_or_none(status.get("numberReady")) or 0
    elif kind == "CronJob":
        labels = _template_labels(spec, "jobTemplate", "spec", "template", "metadata", "labels")
    return _Workload(
        kind, str(meta.get("name") or ""), str(meta.get("namespace") or ""), labels, replicas, ready
    )


class _LabelIndex:
    """``(label, value)`` -> the keys of the things carrying it: selectors in set intersections."""

    def __init__(self) -> None:
        self._index: dict[tuple[str, str], set[int]] = defaultdict(set)

    def add(self, key: int, labels: dict[str, str]) -> None:
        for pair in labels.items():
            self._index[pair].add(key)

    def select(self, selector: dict[str, str]) -> set[int]:
        """Keys whose labels include every pair of ``selector``; none for an empty selector
        (a Service without a selector selects no pods: its endpoints are managed by hand)."""
        if not selector:
            return set()
        sets = sorted((self._index.get(pair, set()) for pair in selector.items()), key=len)
        result = set(sets[0])
        for other in sets[1:]:
            result &= other
            if not result:
                break
        return result


def _read_pods(objects: list[JsonObject]) -> list[_PodInfo]:
    """Every pod once: what the topology needs of it, sorted by namespace and name."""
    pods = []
    for obj in objects:
        meta = _meta(obj)
        spec = obj.get("spec")
        node = spec.get("nodeName") if type(spec) is dict else None
        pods.append(
            _PodInfo(
                str(meta.get("namespace") or ""),
                str(meta.get("name") or ""),
                pod_status(obj),
                str(node) if node else None,
                _controller_uid(meta),
                obj,
            )
        )
    pods.sort(key=lambda pod: (pod.namespace, pod.name))
    return pods


def _assemble(
    cluster_name: str,
    version: str,
    lists: _Lists,
    depth: int,
    query: TopologyQuery,
    usage: dict[str, NodeUsage] | None,
    events: list[EventItem] | None,
) -> Topology:
    pods = _read_pods(lists.pods)
    pods_by_node: dict[str, list[_PodInfo]] = defaultdict(list)
    pods_per_namespace: Counter[str] = Counter()
    for pod in pods:
        pods_per_namespace[pod.namespace] += 1
        if pod.node:
            pods_by_node[pod.node].append(pod)

    nodes = [
        _node(node, pods_by_node.get(str(_meta(node).get("name") or ""), []), depth, usage)
        for node in lists.nodes
    ]
    nodes.sort(key=lambda node: node.name)
    policies = Counter(str(_meta(policy).get("namespace") or "") for policy in lists.networkpolicies)
    return Topology(
        cluster=ClusterSummary(
            name=cluster_name,
            version=version,
            total_nodes=len(lists.nodes),
            total_pods=len(lists.pods),
            total_services=len(lists.services),
        ),
        nodes=nodes,
        namespaces=_namespaces(lists, pods, pods_per_namespace, depth),
        network_policies=NetworkPolicies(
            total=sum(policies.values()), by_namespace=dict(sorted(policies.items()))
        ),
        metrics_available=(usage is not None) if query.include_metrics else None,
        events=events,
    )


def node_role(labels: dict[str, str]) -> str:
    """``control-plane``, ``control-plane,master``, ... from the role labels, else ``worker``."""
    roles = {key[len(ROLE_LABEL_PREFIX) :] for key in labels if key.startswith(ROLE_LABEL_PREFIX)}
    if labels.get(LEGACY_ROLE_LABEL):
        roles.add(labels[LEGACY_ROLE_LABEL])
    roles.discard("")
    return ",".join(sorted(roles)) or "worker"


def _taint(taint: JsonObject) -> Taint:
    entry = Taint(key=str(taint.get("key") or ""), effect=str(taint.get("effect") or ""))
    if taint.get("value"):
        entry["value"] = str(taint["value"])
    return entry


def _node(
    node: JsonObject, pods: list[_PodInfo], depth: int, usage: dict[str, NodeUsage] | None
) -> TopologyNode:
    meta = _meta(node)
    name = str(meta.get("name") or "")
    allocatable = (node.get("status") or _EMPTY).get("allocatable") or _EMPTY
    cpu, memory = quantity(allocatable.get("cpu")), quantity(allocatable.get("memory"))
    sample = usage.get(name) if usage is not None else None
    taints = (node.get("spec") or _EMPTY).get("taints")
    return TopologyNode(
        name=name,
        role=node_role(_labels(meta.get("labels"))),
        status=node_status(node),
        cpu_available_cores=cores(cpu),
        memory_available_bytes=byte_count(memory),
        pod_count=len(pods),
        pods=[NodePod(namespace=p.namespace, name=p.name, status=p.status) for p in pods]
        if depth >= 2
        else None,
        taints=[_taint(taint) for taint in taints if type(taint) is dict] if type(taints) is list else [],
        metrics=_usage(sample, cpu, memory) if sample is not None else None,
    )


def _usage(sample: NodeUsage, cpu: Decimal | None, memory: Decimal | None) -> NodeUsageOut:
    return NodeUsageOut(
        cpu_usage_cores=cores(sample.cpu_cores),
        cpu_percent=percent(sample.cpu_cores, cpu)
        if sample.cpu_cores is not None and cpu is not None
        else None,
        memory_usage_bytes=byte_count(sample.memory_bytes),
        memory_percent=(
            percent(sample.memory_bytes, memory)
            if sample.memory_bytes is not None and memory is not None
            else None
        ),
    )


def _namespaces(
    lists: _Lists, pods: list[_PodInfo], pods_per_namespace: Counter[str], depth: int
) -> list[TopologyNamespace]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for attribute, objects in (
        ("deployments", lists.deployments),
        ("statefulsets", lists.statefulsets),
        ("daemonsets", lists.daemonsets),
        ("jobs", lists.jobs),
        ("cronjobs", lists.cronjobs),
    ):
        for obj in objects:
            counts[str(_meta(obj).get("namespace") or "")][attribute] += 1
    with_quota = {str(_meta(quota).get("namespace") or "") for quota in lists.resourcequotas}
    details = _workload_details(lists, pods, depth) if depth >= 3 else {}
    result = []
    for namespace in sorted(lists.namespaces, key=lambda obj: str(_meta(obj).get("name") or "")):
        name = str(_meta(namespace).get("name") or "")
        detail = details.get(name) or _NamespaceDetail()
        result.append(
            TopologyNamespace(
                name=name,
                pod_count=pods_per_namespace[name],
                resource_quota_enforced=name in with_quota,
                workloads=WorkloadCounts(**(counts.get(name) or Counter())),
                workload_items=detail.workloads if depth >= 3 else None,
                services=detail.services if depth >= 4 else None,
                standalone_pods=detail.standalone if depth >= 4 else None,
            )
        )
    return result


@dataclass(slots=True)
class _NamespaceDetail:
    workloads: list[Workload] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    standalone: list[Pod] = field(default_factory=list)


def _workload_details(lists: _Lists, pods: list[_PodInfo], depth: int) -> dict[str, _NamespaceDetail]:
    """Workloads with their pods and services, per namespace (depth >= 3)."""
    workloads: dict[str, _Workload] = {}
    for kind, objects in (
        ("Deployment", lists.deployments),
        ("StatefulSet", lists.statefulsets),
        ("DaemonSet", lists.daemonsets),
        ("CronJob", lists.cronjobs),
    ):
        for obj in objects:
            workloads[str(_meta(obj).get("uid") or id(obj))] = _workload(kind, obj)
    # ReplicaSets and Jobs stand between a Deployment/CronJob and its pods; ones without such
    # an owner are workloads of their own. intermediate uid -> (owner uid, the object).
    intermediates: dict[str, tuple[str, _Owned]] = {}
    for kind, objects, owner_kind in (
        ("ReplicaSet", lists.replicasets, "Deployment"),
        ("Job", lists.jobs, "CronJob"),
    ):
        for obj in objects:
            meta = _meta(obj)
            uid = str(meta.get("uid") or id(obj))
            owner = _controller_uid(meta)
            if owner is not None and owner in workloads and workloads[owner].kind == owner_kind:
                replicas = _int_or_none((obj.get("spec") or _EMPTY).get("replicas")) or 0
                intermediates[uid] = (owner, _Owned(kind, str(meta.get("name") or ""), replicas))
            else:
                workloads[uid] = _workload(kind, obj)

    standalone: dict[str, list[_PodInfo]] = defaultdict(list)
    pods_by_namespace: dict[str, list[_PodInfo]] = defaultdict(list)
    for pod in pods:
        if depth >= 4:
            pods_by_namespace[pod.namespace].append(pod)
        owner = pod.owner
        if owner is None:
            standalone[pod.namespace].append(pod)
        elif owner in workloads:
            workloads[owner].pods.append(pod)
        elif owner in intermediates:
            top, owned = intermediates[owner]
            workloads[top].pods.append(pod)
            owned.pods.append(pod.name)
            workloads[top].owned.setdefault(owner, owned)
        else:
            standalone[pod.namespace].append(pod)
    if depth >= 4:
        # Scaled-down ReplicaSets a Deployment keeps for rollback are listed only while they
        # still have pods or want some; every Job of a CronJob is listed (its history is short).
        for uid, (top, owned) in intermediates.items():
            if owned.kind == "Job" or owned.pods or owned.replicas:
                workloads[top].owned.setdefault(uid, owned)

    by_namespace: dict[str, list[_Workload]] = defaultdict(list)
    for workload in workloads.values():
        by_namespace[workload.namespace].append(workload)
    services_by_namespace: dict[str, list[JsonObject]] = defaultdict(list)
    for service in lists.services:
        services_by_namespace[str(_meta(service).get("namespace") or "")].append(service)
    return {
        namespace: _namespace_detail(
            by_namespace.get(namespace, []),
            services_by_namespace.get(namespace, []),
            pods_by_namespace.get(namespace, []),
            standalone.get(namespace, []),
            depth,
        )
        for namespace in set(by_namespace) | set(services_by_namespace) | set(standalone)
    }


def _namespace_detail(
    workloads: list[_Workload],
    services: list[JsonObject],
    pods: list[_PodInfo],
    standalone: list[_PodInfo],
    depth: int,
) -> _NamespaceDetail:
    templates = _LabelIndex()
    for index, workload in enumerate(workloads):
        templates.add(index, workload.template_labels)
    pod_labels = _LabelIndex()
    if depth >= 4:
        for index, pod in enumerate(pods):
            pod_labels.add(index, _labels(_meta(pod.obj).get("labels")))
    service_out: list[Service] = []
    for service in sorted(services, key=lambda obj: str(_meta(obj).get("name") or "")):
        name = str(_meta(service).get("name") or "")
        spec = service.get("spec") or _EMPTY
        selector = _labels(spec.get("selector"))
        for index in templates.select(selector):
            workloads[index].services.append(name)
        if depth >= 4:
            # pods is in name order, and so are the indexes.
            selected = sorted(pod_labels.select(selector))
            service_out.append(
                Service(
                    name=name,
                    type=str(spec.get("type") or "ClusterIP"),
                    cluster_ip=spec.get("clusterIP") or None,
                    selector=selector,
                    pods=[pods[index].name for index in selected],
                )
            )
    items = [
        Workload(
            kind=workload.kind,
            name=workload.name,
            replicas=workload.replicas,
            ready_replicas=workload.ready_replicas,
            pods=_pods(workload.pods, depth),
            services=workload.services,
            owned=(
                [
                    OwnedObject(kind=owned.kind, name=owned.name, pods=owned.pods)
                    for owned in sorted(workload.owned.values(), key=lambda owned: owned.name)
                ]
                if depth >= 4
                else None
            ),
        )
        for workload in sorted(
            workloads, key=lambda workload: (_KIND_ORDER.get(workload.kind, 9), workload.name)
        )
    ]
    return _NamespaceDetail(items, service_out, _pods(standalone, depth) if depth >= 4 else [])


def _pods(pods: Iterable[_PodInfo], depth: int) -> list[Pod]:
    """The pods (already in name order) as a workload or namespace lists them."""
    result = []
    for info in pods:
        entry = Pod(name=info.name, status=info.status)
        if info.node:
            entry["node"] = info.node
        if depth >= 5:
            entry["containers"] = _containers(info.obj)
        result.append(entry)
    return result


def _containers(pod: JsonObject) -> list[Container]:
    statuses = (pod.get("status") or _EMPTY).get("containerStatuses")
    by_name = (
        {str(status.get("name")): status for status in statuses if type(status) is dict}
        if type(statuses) is list
        else {}
    )
    result = []
    specs = (pod.get("spec") or _EMPTY).get("containers")
    for container in specs if type(specs) is list else ():
        if type(container) is not dict:
            continue
        status = by_name.get(str(container.get("name")), _EMPTY)
        entry = Container(
            name=str(container.get("name") or ""),
            ready=status.get("ready") is True,
            restart_count=_int_or_none(status.get("restartCount")) or 0,
        )
        if container.get("image"):
            entry["image"] = str(container["image"])
        state = status.get("state")
        if type(state) is dict and state:
            state_name = next(iter(state))
            entry["state"] = str(state_name)
            detail = state[state_name]
            if type(detail) is dict and detail.get("reason"):
                entry["reason"] = str(detail["reason"])
        result.append(entry)
    return result
