"""``ClusterOps`` whose whole-collection lists are served from informers.

Topology, metrics and the AI's full-cluster scans read every pod, node and workload of a
cluster, often, and need no read-your-writes guarantee; reading 10,000 pods from the API server
for each of them is most of their time. :class:`InformerListOps` answers a list without
selectors from an informer's memory (started on first use, kept current by its watch, stopped
after ``idle_seconds`` unused) and passes everything else — and any list while its informer is
failing — to the wrapped ops. The Cluster API's resource endpoints keep using the plain ops, so
a client always reads its own writes there.
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from pilothouse.kube.informer import Informer
from pilothouse.kube.listing import cut_page
from pilothouse.kube.ops import (
    ClusterOps,
    ExecRequest,
    ExecSession,
    JsonObject,
    ListPage,
    ListQuery,
    LogQuery,
    PatchType,
    ResourceType,
    WatchEvent,
    WatchQuery,
)

IDLE_SECONDS = 600.0
SYNC_TIMEOUT_SECONDS = 60.0


class InformerListOps:
    def __init__(
        self,
        ops: ClusterOps,
        *,
        idle_seconds: float = IDLE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ops = ops
        self._idle_seconds = idle_seconds
        self._monotonic = monotonic
        # (group, plural) -> (informer, last used)
        self._informers: dict[tuple[str, str], tuple[Informer, float]] = {}
        self._reaper: asyncio.Task[None] | None = None

    async def _informer(self, resource: ResourceType) -> Informer | None:
        key = (resource.group, resource.plural)
        entry = self._informers.get(key)
        if entry is None:
            informer = Informer(self.ops, resource)
            informer.start()
            if self._reaper is None:
                self._reaper = asyncio.create_task(self._reap(), name="informer-reaper")
        else:
            informer = entry[0]
        self._informers[key] = (informer, self._monotonic())
        if not informer.synced.is_set():
            try:
                await asyncio.wait_for(informer.synced.wait(), SYNC_TIMEOUT_SECONDS)
            except TimeoutError:
                return None
        return None if informer.failure is not None else informer

    async def _reap(self) -> None:
        while self._informers:
            await asyncio.sleep(max(1.0, self._idle_seconds / 4))
            now = self._monotonic()
            for key, (informer, used) in list(self._informers.items()):
                if now - used > self._idle_seconds:
                    del self._informers[key]
                    await informer.stop()
        self._reaper = None

    async def list(self, resource: ResourceType, query: ListQuery) -> ListPage:
        if query.label_selector or query.field_selector or "watch" not in resource.verbs:
            return await self.ops.list(resource, query)
        informer = await self._informer(resource)
        if informer is None:
            # Not synced, or failing: the API server says what is wrong (or answers).
            return await self.ops.list(resource, query)
        items = informer.objects()
        if query.namespace and resource.namespaced:
            items = [
                item for item in items if (item.get("metadata") or {}).get("namespace") == query.namespace
            ]
        return cut_page(items, query, informer.resource_version)

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for informer, _ in self._informers.values():
            await informer.stop()
        self._informers.clear()

    # --- everything else goes to the API server -----------------------------------------------

    async def discover(self) -> Sequence[ResourceType]:
        return await self.ops.discover()

    async def server_version(self) -> JsonObject:
        return await self.ops.server_version()

    async def get(self, resource: ResourceType, name: str, namespace: str | None = None) -> JsonObject:
        return await self.ops.get(resource, name, namespace)

    async def create(
        self, resource: ResourceType, body: JsonObject, namespace: str | None = None, *, dry_run: bool = False
    ) -> JsonObject:
        return await self.ops.create(resource, body, namespace, dry_run=dry_run)

    async def replace(
        self,
        resource: ResourceType,
        name: str,
        body: JsonObject,
        namespace: str | None = None,
        *,
        dry_run: bool = False,
    ) -> JsonObject:
        return await self.ops.replace(resource, name, body, namespace, dry_run=dry_run)

    async def patch(
        self,
        resource: ResourceType,
        name: str,
        patch: JsonObject | builtins.list[Any],
        patch_type: PatchType,
        namespace: str | None = None,
        *,
        dry_run: bool = False,
        subresource: str | None = None,
    ) -> JsonObject:
        return await self.ops.patch(
            resource, name, patch, patch_type, namespace, dry_run=dry_run, subresource=subresource
        )

    async def delete(
        self,
        resource: ResourceType,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        dry_run: bool = False,
    ) -> JsonObject:
        return await self.ops.delete(
            resource,
            name,
            namespace,
            grace_period_seconds=grace_period_seconds,
            propagation_policy=propagation_policy,
            dry_run=dry_run,
        )

    def watch(self, resource: ResourceType, query: WatchQuery) -> AsyncIterator[WatchEvent]:
        return self.ops.watch(resource, query)

    def pod_logs(self, namespace: str, name: str, query: LogQuery) -> AsyncIterator[bytes]:
        return self.ops.pod_logs(namespace, name, query)

    async def pod_exec(self, namespace: str, name: str, request: ExecRequest) -> ExecSession:
        return await self.ops.pod_exec(namespace, name, request)
