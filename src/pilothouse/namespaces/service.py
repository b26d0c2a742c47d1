"""Listing namespaces with their pod counts and quota usage.

Three kinds of objects are joined: the namespaces, their pods and their ResourceQuotas. Pods are
counted per namespace of the requested page only, each with a ``limit=0`` list: the count is
taken where the objects are (inside the executor, for a tunnel cluster), so no pod crosses the
tunnel just to be counted, and namespaces off the page cost nothing.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from pilothouse.kube.ops import ClusterOps, JsonObject, ListQuery, ResourceType
from pilothouse.kube.quantity import QuantityError, exact_sum, format_quantity, is_binary, parse_quantity
from pilothouse.kube.resolver import ResourceResolver
from pilothouse.namespaces.schemas import NamespaceItem, NamespaceList, PageInfo, ResourceQuotaStatus

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
# Pod counts run concurrently, but a page of 1,000 namespaces must not open 1,000 requests at once.
COUNT_CONCURRENCY = 16


def is_system_namespace(name: str) -> bool:
    """kube-system, kube-public, kube-node-lease and anything else Kubernetes reserves (``kube-*``)."""
    return name in SYSTEM_NAMESPACES or name.startswith("kube-")


async def list_namespaces(
    ops: ClusterOps,
    resolver: ResourceResolver,
    *,
    limit: int = 100,
    offset: int = 0,
    include_system: bool = False,
) -> NamespaceList:
    namespaces_type, pods_type, quotas_type = await asyncio.gather(
        resolver.resolve("namespaces"), resolver.resolve("pods"), resolver.resolve("resourcequotas")
    )
    namespaces_page, quotas_page = await asyncio.gather(
        ops.list(namespaces_type, ListQuery(sort_by="name")), ops.list(quotas_type, ListQuery())
    )
    visible = [
        namespace
        for namespace in namespaces_page.items
        if include_system or not is_system_namespace(_name(namespace))
    ]
    page = visible[offset : offset + limit]
    names = [_name(namespace) for namespace in page]
    counts = await _pod_counts(ops, pods_type, names)
    quotas = _quotas_by_namespace(quotas_page.items)
    items = [
        NamespaceItem(
            name=name,
            status=str((namespace.get("status") or {}).get("phase") or "Active"),
            creation_timestamp=(namespace.get("metadata") or {}).get("creationTimestamp"),
            pod_count=count,
            resource_quota_status=quota_status(quotas[name]) if name in quotas else None,
            labels=_labels(namespace),
        )
        for namespace, name, count in zip(page, names, counts, strict=True)
    ]
    return NamespaceList(
        total_count=len(visible),
        page=PageInfo(
            limit=limit, offset=offset, returned=len(items), has_more=offset + len(items) < len(visible)
        ),
        items=items,
    )


async def _pod_counts(ops: ClusterOps, pods: ResourceType, namespaces: list[str]) -> list[int]:
    semaphore = asyncio.Semaphore(COUNT_CONCURRENCY)

    async def count(namespace: str) -> int:
        async with semaphore:
            return (await ops.list(pods, ListQuery(namespace=namespace, limit=0))).total_count

    return list(await asyncio.gather(*(count(namespace) for namespace in namespaces)))


def _quotas_by_namespace(quotas: Iterable[JsonObject]) -> dict[str, list[JsonObject]]:
    by_namespace: dict[str, list[JsonObject]] = defaultdict(list)
    for quota in quotas:
        by_namespace[str((quota.get("metadata") or {}).get("namespace") or "")].append(quota)
    return by_namespace


def quota_status(quotas: Iterable[JsonObject]) -> ResourceQuotaStatus:
    """The quotas' ``status.hard`` and ``status.used`` summed per resource name.

    A resource limited by one quota keeps the API server's spelling (``1000Gi``); one limited by
    several is the exact sum in Kubernetes' canonical form, binary when the first addend was.
    """
    statuses = [quota.get("status") or {} for quota in quotas]
    return ResourceQuotaStatus(
        hard=sum_quantities(status.get("hard") or {} for status in statuses),
        used=sum_quantities(status.get("used") or {} for status in statuses),
    )


def sum_quantities(amounts: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    spelled: dict[str, list[str]] = defaultdict(list)
    for amount in amounts:
        for resource, value in amount.items():
            spelled[str(resource)].append(str(value))
    summed: dict[str, str] = {}
    for resource, values in sorted(spelled.items()):
        if len(values) == 1:
            summed[resource] = values[0]
            continue
        summed[resource] = format_quantity(exact_sum(_readable(values)), binary=is_binary(values[0]))
    return summed


def _readable(values: Iterable[str]) -> Iterator[Decimal]:
    for value in values:
        try:
            yield parse_quantity(value)
        except QuantityError:
            # The API server validates quantities; an unreadable one cannot be added, and
            # leaving it out is better than failing the whole list.
            continue


def _name(obj: JsonObject) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _labels(obj: JsonObject) -> dict[str, str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return {str(key): str(value) for key, value in labels.items()}
