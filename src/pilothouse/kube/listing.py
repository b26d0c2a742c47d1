"""Reading a collection and cutting the page a client asked for.

The API server filters by selectors and pages by ``limit``/``continue``; sorting other than its
own key order, ``offset`` and a ``total_count`` are done here. Shared by the Direct and Tunnel
adapters over one primitive, "read this document", so a page is cut the same way whichever
transport fetched it (and only raw documents cross the tunnel, parsed once, on the server).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pilothouse.kube.ops import JsonObject, ListPage, ListQuery, ResourceType, SortKey

# Objects fetched per request when a list reads a whole collection: large lists arrive in pages
# so that neither side holds one enormous response.
LIST_CHUNK = 500

ReadDocument = Callable[[str, Sequence[tuple[str, Any]]], Awaitable[JsonObject]]


def _name(item: JsonObject) -> tuple[str, str]:
    metadata = item.get("metadata") or {}
    return (str(metadata.get("name") or ""), str(metadata.get("namespace") or ""))


def _namespace(item: JsonObject) -> tuple[str, str]:
    name, namespace = _name(item)
    return (namespace, name)


def _created(item: JsonObject) -> tuple[str, str, str]:
    metadata = item.get("metadata") or {}
    # RFC 3339 UTC timestamps with second precision sort as strings.
    return (str(metadata.get("creationTimestamp") or ""), *_name(item))


_SORT_KEYS: dict[SortKey, Callable[[JsonObject], tuple[str, ...]]] = {
    "name": _name,
    "namespace": _namespace,
    "created": _created,
    # Oldest first is the largest age first: "age asc" reads youngest first.
    "age": _created,
}


def cut_page(items: Sequence[JsonObject], query: ListQuery, resource_version: str) -> ListPage:
    """The page ``query`` asks for out of every matching item (already selector-filtered)."""
    ordered = sorted(items, key=_SORT_KEYS[query.sort_by], reverse=_reverse(query))
    end = None if query.limit is None else query.offset + query.limit
    return ListPage(
        items=ordered[query.offset : end], total_count=len(ordered), resource_version=resource_version
    )


def _reverse(query: ListQuery) -> bool:
    if query.sort_by == "age":
        # Ascending age means newest first.
        return not query.descending
    return query.descending


def server_order_matches(resource: ResourceType, query: ListQuery) -> bool:
    """Whether the API server's list order is the order asked for: it lists by key
    (namespace, then name), so within one namespace, or for cluster-scoped kinds, "name
    ascending" needs no sorting here. Field selectors make servers omit remainingItemCount."""
    one_scope = query.namespace is not None or not resource.namespaced
    return (
        query.sort_by == "name"
        and not query.descending
        and one_scope
        and query.limit is not None
        and not query.field_selector
    )


def _complete(items: list[JsonObject], resource: ResourceType) -> list[JsonObject]:
    # Lists omit each item's kind and apiVersion; clients of one object expect them.
    for item in items:
        item.setdefault("kind", resource.kind)
        item.setdefault("apiVersion", resource.api_version)
    return items


async def list_page(read: ReadDocument, resource: ResourceType, query: ListQuery) -> ListPage:
    """The page ``query`` asks for, read through ``read`` (GET of a collection path)."""
    if server_order_matches(resource, query):
        page = await _first_items(read, resource, query)
        if page is not None:
            return page
    items: list[JsonObject] = []
    continue_token: str | None = None
    resource_version = ""
    path = resource.path(query.namespace)
    while True:
        document = await read(
            path,
            [
                (name, value)
                for name, value in (
                    ("labelSelector", query.label_selector or None),
                    ("fieldSelector", query.field_selector or None),
                    ("limit", LIST_CHUNK),
                    ("continue", continue_token),
                )
                if value is not None
            ],
        )
        items.extend(_complete(document.get("items") or [], resource))
        metadata = document.get("metadata") or {}
        resource_version = resource_version or str(metadata.get("resourceVersion") or "")
        continue_token = metadata.get("continue") or None
        if not continue_token:
            break
    return cut_page(items, query, resource_version)


async def _first_items(read: ReadDocument, resource: ResourceType, query: ListQuery) -> ListPage | None:
    """The page from the first ``offset + limit`` items, when the API server's order is the one
    asked for and it reports how many remain; None to read everything instead."""
    assert query.limit is not None
    params: list[tuple[str, Any]] = [("limit", query.offset + query.limit)]
    if query.label_selector:
        params.append(("labelSelector", query.label_selector))
    document = await read(resource.path(query.namespace), params)
    metadata = document.get("metadata") or {}
    items = _complete(document.get("items") or [], resource)
    remaining = metadata.get("remainingItemCount")
    if metadata.get("continue") and not isinstance(remaining, int):
        return None
    total = len(items) + (remaining if isinstance(remaining, int) else 0)
    return ListPage(
        items=items[query.offset :],
        total_count=total,
        resource_version=str(metadata.get("resourceVersion") or ""),
    )
