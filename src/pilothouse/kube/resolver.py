"""Which resource type a client means by ``Pod``, ``pods``, ``po`` or ``deployments.apps``.

Resolved through the cluster's own discovery, so CRDs work as soon as the cluster serves them.
Discovery is cached; a name that is not found triggers one refresh (a CRD created a moment ago),
at most every ``refresh_interval`` seconds, so made-up names cannot turn into a discovery storm.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from pilothouse.kube.ops import ClusterOps, ResourceType

DISCOVERY_TTL_SECONDS = 300.0
REFRESH_INTERVAL_SECONDS = 2.0


class UnknownResourceKind(LookupError):
    def __init__(self, name: str, valid_kinds: Sequence[str]) -> None:
        super().__init__(f"Unknown Kubernetes kind: {name}")
        self.name = name
        self.valid_kinds = list(valid_kinds)


def _group_rank(resource: ResourceType) -> int:
    # kubectl's order of preference when two groups serve the same name: core, then the
    # built-in groups, then everything else.
    if resource.group == "":
        return 0
    return 1 if "." not in resource.group or resource.group.endswith(".k8s.io") else 2


class ResourceResolver:
    def __init__(
        self,
        ops: ClusterOps,
        *,
        ttl: float = DISCOVERY_TTL_SECONDS,
        refresh_interval: float = REFRESH_INTERVAL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ops = ops
        self._ttl = ttl
        self._refresh_interval = refresh_interval
        self._monotonic = monotonic
        self._types: Sequence[ResourceType] = ()
        self._index: dict[str, ResourceType] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def types(self) -> Sequence[ResourceType]:
        await self._refresh_if_older_than(self._ttl)
        return self._types

    async def resolve(self, name: str) -> ResourceType:
        """The resource type ``name`` means; UnknownResourceKind (with the valid kinds) if none."""
        await self.types()
        found = self._lookup(name)
        if found is None and await self._refresh_if_older_than(self._refresh_interval):
            found = self._lookup(name)
        if found is None:
            raise UnknownResourceKind(name, sorted({resource.kind for resource in self._types}))
        return found

    async def kind(self, kind: str, group: str | None = None) -> ResourceType | None:
        """The type serving ``kind`` (in ``group`` when given), without raising."""
        for resource in await self.types():
            if resource.kind == kind and (group is None or resource.group == group):
                return resource
        return None

    def _lookup(self, name: str) -> ResourceType | None:
        return self._index.get(name) or self._index.get(name.lower())

    async def _refresh_if_older_than(self, age: float) -> bool:
        """Fetch discovery again if the copy is older than ``age`` seconds; whether it was fetched."""
        if self._monotonic() - self._fetched_at <= age:
            return False
        async with self._lock:
            # Whoever held the lock before may just have fetched it.
            if self._monotonic() - self._fetched_at <= age:
                return False
            types = list(await self._ops.discover())
            self._types = types
            self._index = _index(types)
            self._fetched_at = self._monotonic()
            return True


def _index(types: Sequence[ResourceType]) -> dict[str, ResourceType]:
    index: dict[str, ResourceType] = {}
    for resource in sorted(types, key=_group_rank, reverse=True):
        # Later (better-ranked) entries overwrite: core wins over an extension's "events".
        names = {resource.plural, resource.singular, resource.kind.lower(), *resource.short_names}
        names.discard("")
        for name in names:
            index[name.lower()] = resource
            if resource.group:
                index[f"{name.lower()}.{resource.group}"] = resource
        index[resource.kind] = resource
        if resource.group:
            index[f"{resource.kind}.{resource.group}"] = resource
    return index
