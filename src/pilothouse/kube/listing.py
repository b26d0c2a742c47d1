"""Filtering, sorting and paging a collection: the part of a list the API server cannot do.

Shared by every ``ClusterOps`` so a page is cut the same way whether the objects were read here or
inside an executor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pilothouse.kube.ops import JsonObject, ListPage, ListQuery, SortKey


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
    return ListPage(items=ordered[query.offset : end], total_count=len(ordered), resource_version=resource_version)


def _reverse(query: ListQuery) -> bool:
    if query.sort_by == "age":
        # Ascending age means newest first.
        return not query.descending
    return query.descending
