"""Resource usage of nodes and pods: metrics.k8s.io joined with what the objects declare.

metrics-server reports usage only (cores and bytes). Percentages need the other side, so node
usage is joined with the Node's ``status.allocatable`` and pod usage with each container's
requests and limits from the Pod spec; all arithmetic is on exact decimals
(:mod:`pilothouse.kube.quantity`). metrics.k8s.io has no network, disk or throttling figures, so
those are null: nothing here is estimated.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

from pilothouse.errors import ServiceUnavailable
from pilothouse.events.service import escape_field_value, format_rfc3339, parse_rfc3339
from pilothouse.kube.ops import ClusterOps, JsonObject, KubeApiError, ListQuery, ResourceType
from pilothouse.kube.quantity import (
    QuantityError,
    exact_sum,
    format_decimal,
    format_integer,
    parse_quantity,
    percent,
)
from pilothouse.kube.resolver import ResourceResolver, UnknownResourceKind
from pilothouse.metrics.schemas import (
    ContainerCpu,
    ContainerMemory,
    ContainerMetrics,
    NodeCpu,
    NodeMemory,
    NodeMetrics,
    NodeMetricsList,
    PodMetrics,
    PodMetricsList,
)

NodeSort = Literal["cpu_usage", "memory_usage", "network", "name"]
PodSort = Literal["cpu_usage", "memory_usage", "name"]
DEFAULT_POD_LIMIT = 100
MAX_POD_LIMIT = 1000
METRICS_UNAVAILABLE = "metrics-server is not available"
# What kubectl describe node calls "Non-terminated Pods": those still holding the node's resources.
ACTIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"

T = TypeVar("T")


def metrics_unavailable(reason: str) -> ServiceUnavailable:
    return ServiceUnavailable(METRICS_UNAVAILABLE, details={"reason": reason})


async def metrics_type(resolver: ResourceResolver, name: str) -> ResourceType:
    """``nodes.metrics.k8s.io`` or ``pods.metrics.k8s.io``; 503 when the cluster does not serve it."""
    try:
        return await resolver.resolve(name)
    except UnknownResourceKind as error:
        raise metrics_unavailable(f"the cluster does not serve {name}") from error


async def read_metrics(listing: Awaitable[T]) -> T:
    """A metrics.k8s.io call; 503 when the aggregated API is registered but not answering.

    The API server answers 503 (ServiceUnavailable) for an APIService whose backend is down, and
    404 for one that has just been removed.
    """
    try:
        return await listing
    except KubeApiError as error:
        if error.status in (404, 503):
            raise metrics_unavailable(error.message) from error
        raise


# --- reading objects ---------------------------------------------------------------------------


def quantity(value: Any) -> Decimal | None:
    """A quantity from an object, or None when absent or unreadable (never a guess)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return parse_quantity(value if isinstance(value, int) else str(value))
    except QuantityError:
        return None


def cores(value: Decimal | None) -> str | None:
    return None if value is None else format_decimal(value)


def byte_count(value: Decimal | None) -> str | None:
    return None if value is None else format_integer(value)


def node_status(node: JsonObject) -> str:
    """kubectl's STATUS column: Ready, NotReady or Unknown, plus ``,SchedulingDisabled``."""
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"), None)
    status = "Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"
    if (node.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    return status


def _name(obj: JsonObject) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _namespace(obj: JsonObject) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def _timestamp(metric: JsonObject | None) -> datetime | None:
    value = metric.get("timestamp") if metric else None
    return parse_rfc3339(value) if isinstance(value, str) else None


def _newest(moments: Iterable[datetime | None], now: datetime | None) -> str:
    known = [moment for moment in moments if moment is not None]
    return format_rfc3339(max(known) if known else now or datetime.now(UTC))


# --- nodes --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeUsage:
    """One node's usage sample: what the topology view shows too."""

    cpu_cores: Decimal | None
    memory_bytes: Decimal | None
    timestamp: datetime | None

    @classmethod
    def of(cls, metric: JsonObject) -> NodeUsage:
        usage = metric.get("usage") or {}
        return cls(quantity(usage.get("cpu")), quantity(usage.get("memory")), _timestamp(metric))


async def node_usage(ops: ClusterOps, resolver: ResourceResolver) -> dict[str, NodeUsage]:
    """Every node's latest usage sample by node name; 503 without metrics-server."""
    resource = await metrics_type(resolver, "nodes.metrics.k8s.io")
    page = await read_metrics(ops.list(resource, ListQuery()))
    return {_name(metric): NodeUsage.of(metric) for metric in page.items}


async def node_metrics(
    ops: ClusterOps,
    resolver: ResourceResolver,
    *,
    node_name: str | None = None,
    sort_by: NodeSort = "name",
    now: datetime | None = None,
) -> NodeMetricsList:
    """Usage of every node (or one) against its allocatable resources.

    ``cpu_usage`` and ``memory_usage`` sort the busiest first, as ``kubectl top --sort-by``;
    nodes without a sample come last. metrics.k8s.io has no network figures, so ``network``
    orders as ``name``.
    """
    nodes_type, pods_type = await asyncio.gather(resolver.resolve("nodes"), resolver.resolve("pods"))
    node_selector = f"metadata.name={escape_field_value(node_name)}" if node_name else None
    pod_selector = ACTIVE_PODS + (f",spec.nodeName={escape_field_value(node_name)}" if node_name else "")
    usage, nodes_page, pods_page = await asyncio.gather(
        node_usage(ops, resolver),
        ops.list(nodes_type, ListQuery(field_selector=node_selector)),
        ops.list(pods_type, ListQuery(field_selector=pod_selector)),
    )
    pods_per_node = Counter(str((pod.get("spec") or {}).get("nodeName") or "") for pod in pods_page.items)
    items = [
        _node_item(node, usage.get(_name(node)), pods_per_node[_name(node)]) for node in nodes_page.items
    ]
    items.sort(key=_node_sort_key(sort_by))
    return NodeMetricsList(
        timestamp=_newest((usage[item.name].timestamp for item in items if item.name in usage), now),
        nodes=items,
    )


def _node_item(node: JsonObject, usage: NodeUsage | None, pod_count: int) -> NodeMetrics:
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    cpu_allocatable = quantity(allocatable.get("cpu"))
    memory_allocatable = quantity(allocatable.get("memory"))
    cpu_usage = usage.cpu_cores if usage else None
    memory_usage = usage.memory_bytes if usage else None
    return NodeMetrics(
        name=_name(node),
        cpu=NodeCpu(
            usage_cores=cores(cpu_usage),
            allocatable_cores=cores(cpu_allocatable),
            percent=_percent(cpu_usage, cpu_allocatable),
        ),
        memory=NodeMemory(
            usage_bytes=byte_count(memory_usage),
            allocatable_bytes=byte_count(memory_allocatable),
            percent=_percent(memory_usage, memory_allocatable),
        ),
        status=node_status(node),
        pod_count=pod_count,
        timestamp=format_rfc3339(usage.timestamp) if usage and usage.timestamp else None,
    )


def _percent(part: Decimal | None, whole: Decimal | None) -> float | None:
    return None if part is None or whole is None else percent(part, whole)


def _descending(value: str | None) -> tuple[int, Decimal]:
    # Missing values sort after every real one; present ones largest first.
    return (1, Decimal(0)) if value is None else (0, -Decimal(value))


def _node_sort_key(sort_by: NodeSort) -> Any:
    if sort_by == "cpu_usage":
        return lambda item: (*_descending(item.cpu.usage_cores), item.name)
    if sort_by == "memory_usage":
        return lambda item: (*_descending(item.memory.usage_bytes), item.name)
    return lambda item: item.name


# --- pods ---------------------------------------------------------------------------------------


async def pod_metrics(
    ops: ClusterOps,
    resolver: ResourceResolver,
    *,
    namespace: str | None = None,
    pod_name: str | None = None,
    sort_by: PodSort = "name",
    limit: int = DEFAULT_POD_LIMIT,
    now: datetime | None = None,
) -> PodMetricsList:
    """Usage of each pod's containers against their requests and limits.

    ``cpu_usage``/``memory_usage`` sort by the pod's total, busiest first; ``name`` by namespace
    and name. Only pods metrics-server has a sample for are listed (running ones).
    """
    metrics_resource, pods_type = await asyncio.gather(
        metrics_type(resolver, "pods.metrics.k8s.io"), resolver.resolve("pods")
    )
    pod_selector = f"metadata.name={escape_field_value(pod_name)}" if pod_name else None
    metrics_page, pods_page = await asyncio.gather(
        read_metrics(ops.list(metrics_resource, ListQuery(namespace=namespace or None))),
        ops.list(pods_type, ListQuery(namespace=namespace or None, field_selector=pod_selector)),
    )
    pods = {(_namespace(pod), _name(pod)): pod for pod in pods_page.items}
    samples = [metric for metric in metrics_page.items if not pod_name or _name(metric) == pod_name]
    entries = [_pod_entry(metric, pods.get((_namespace(metric), _name(metric)))) for metric in samples]
    entries.sort(key=_pod_sort_key(sort_by))
    return PodMetricsList(
        timestamp=_newest((_timestamp(metric) for metric in samples), now),
        total_count=len(entries),
        pods=[entry.item for entry in entries[:limit]],
    )


@dataclass(frozen=True, slots=True)
class _PodEntry:
    item: PodMetrics
    cpu: Decimal
    memory: Decimal


def _pod_entry(metric: JsonObject, pod: JsonObject | None) -> _PodEntry:
    resources = _container_resources(pod) if pod else {}
    containers: list[ContainerMetrics] = []
    cpu_total: list[Decimal] = []
    memory_total: list[Decimal] = []
    for container in metric.get("containers") or []:
        name = str(container.get("name") or "")
        usage = container.get("usage") or {}
        cpu = quantity(usage.get("cpu")) or Decimal(0)
        memory = quantity(usage.get("memory")) or Decimal(0)
        cpu_total.append(cpu)
        memory_total.append(memory)
        declared = resources.get(name, {})
        requests = declared.get("requests") or {}
        limits = declared.get("limits") or {}
        cpu_request, cpu_limit = quantity(requests.get("cpu")), quantity(limits.get("cpu"))
        memory_request, memory_limit = quantity(requests.get("memory")), quantity(limits.get("memory"))
        containers.append(
            ContainerMetrics(
                name=name,
                cpu=ContainerCpu(
                    usage_cores=format_decimal(cpu),
                    requests=cores(cpu_request),
                    limits=cores(cpu_limit),
                    percent_of_request=_percent(cpu, cpu_request),
                    percent_of_limit=_percent(cpu, cpu_limit),
                ),
                memory=ContainerMemory(
                    usage_bytes=format_integer(memory),
                    requests=byte_count(memory_request),
                    limits=byte_count(memory_limit),
                    percent_of_request=_percent(memory, memory_request),
                    percent_of_limit=_percent(memory, memory_limit),
                ),
            )
        )
    moment = _timestamp(metric)
    item = PodMetrics(
        namespace=_namespace(metric),
        name=_name(metric),
        timestamp=format_rfc3339(moment) if moment else None,
        containers=containers,
    )
    return _PodEntry(item, exact_sum(cpu_total), exact_sum(memory_total))


def _container_resources(pod: JsonObject) -> dict[str, dict[str, Any]]:
    spec = pod.get("spec") or {}
    # Sidecars (restartable init containers) run alongside and metrics-server reports them too.
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    return {str(c.get("name") or ""): c.get("resources") or {} for c in containers if isinstance(c, dict)}


def _pod_sort_key(sort_by: PodSort) -> Any:
    if sort_by == "cpu_usage":
        return lambda entry: (-entry.cpu, entry.item.namespace, entry.item.name)
    if sort_by == "memory_usage":
        return lambda entry: (-entry.memory, entry.item.namespace, entry.item.name)
    return lambda entry: (entry.item.namespace, entry.item.name)
