"""Informers: a resource type's objects kept in memory, current through a watch.

An :class:`Informer` lists once, then watches from the list's resourceVersion. When the API
server ends a watch (its timeout, a restart, a dropped connection) it resumes from the last
version it saw; when that version is too old (410 Gone, or an ERROR event saying so) it lists
again and tells its listeners the difference as ADDED/MODIFIED/DELETED, so no change is lost or
repeated. Secret values are redacted as objects arrive, so nothing downstream ever holds them.

Listeners are called synchronously on the event loop and must not block: the WebSocket fan-out
(watch.service) queues, the list cache (kube.cached) just reads ``cache`` when asked.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from pilothouse.executor.backoff import Backoff
from pilothouse.kube.ops import (
    ClusterOps,
    ClusterUnavailable,
    JsonObject,
    KubeApiError,
    ListQuery,
    ResourceType,
    WatchQuery,
)
from pilothouse.observability.logging import get_logger
from pilothouse.policy.objects import redact_object

log = get_logger(__name__)

# The API server is asked to end each watch after this long; the informer resumes at once.
WATCH_TIMEOUT_SECONDS = 300


class InformerListener(Protocol):
    def on_synced(self, objects: list[JsonObject]) -> None:
        """The first list arrived: the current objects."""

    def on_event(self, kind: str, obj: JsonObject) -> None:
        """ADDED, MODIFIED or DELETED, as the watch (or a relist's difference) says."""

    def on_error(self, message: str) -> None:
        """The watch failed; the informer retries with back-off."""


def object_uid(obj: JsonObject) -> str:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("uid") or f"{metadata.get('namespace')}/{metadata.get('name')}")


def _version(obj: JsonObject) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class Informer:
    def __init__(
        self,
        ops: ClusterOps,
        resource: ResourceType,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> None:
        self.ops = ops
        self.resource = resource
        self.namespace = namespace if resource.namespaced else None
        self.label_selector = label_selector or None
        self.listeners: set[InformerListener] = set()
        self.cache: dict[str, JsonObject] = {}
        self.resource_version = ""
        self.synced = asyncio.Event()
        # The last failure, until a list or watch succeeds again: a cache that may be stale.
        self.failure: str | None = None
        self.relists = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"informer-{self.resource.plural}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def objects(self) -> list[JsonObject]:
        return list(self.cache.values())

    def _complete(self, obj: JsonObject) -> JsonObject:
        obj.setdefault("kind", self.resource.kind)
        obj.setdefault("apiVersion", self.resource.api_version)
        return redact_object(obj, kind=self.resource.kind)

    def _publish(self, kind: str, obj: JsonObject) -> None:
        for listener in list(self.listeners):
            listener.on_event(kind, obj)

    async def _relist(self) -> None:
        page = await self.ops.list(
            self.resource, ListQuery(namespace=self.namespace, label_selector=self.label_selector)
        )
        fresh = {object_uid(item): self._complete(item) for item in page.items}
        if self.synced.is_set():
            # Tell listeners what changed while the watch could not follow.
            for uid, old in list(self.cache.items()):
                if uid not in fresh:
                    self._publish("DELETED", old)
            for uid, new in fresh.items():
                previous = self.cache.get(uid)
                if previous is None:
                    self._publish("ADDED", new)
                elif _version(previous) != _version(new):
                    self._publish("MODIFIED", new)
            self.cache = fresh
        else:
            self.cache = fresh
            self.synced.set()
            for listener in list(self.listeners):
                listener.on_synced(list(fresh.values()))
        self.resource_version = page.resource_version
        self.relists += 1

    async def _run(self) -> None:
        backoff = Backoff(0.5, 10.0)
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                    self.failure = None
                need_list = await self._follow()
                backoff.reset()
            except (KubeApiError, ClusterUnavailable) as error:
                if isinstance(error, KubeApiError) and error.status == 410:
                    need_list = True
                    continue
                self.failure = str(error)
                log.warning("informer.failed", resource=self.resource.plural, error=self.failure)
                for listener in list(self.listeners):
                    listener.on_error(self.failure)
                await asyncio.sleep(backoff.next_delay())
                need_list = True

    async def _follow(self) -> bool:
        """Watch until the API server ends it; True if a relist is needed (410)."""
        query = WatchQuery(
            namespace=self.namespace,
            label_selector=self.label_selector,
            resource_version=self.resource_version or None,
            timeout_seconds=WATCH_TIMEOUT_SECONDS,
        )
        async for event in self.ops.watch(self.resource, query):
            obj = event.object
            if event.type == "ERROR":
                if obj.get("code") == 410 or obj.get("reason") in ("Expired", "Gone"):
                    return True
                raise KubeApiError.from_status(int(obj.get("code") or 500), obj)
            version = _version(obj)
            if version:
                self.resource_version = version
            if event.type == "BOOKMARK":
                continue
            self.failure = None
            obj = self._complete(obj)
            uid = object_uid(obj)
            if event.type == "DELETED":
                self.cache.pop(uid, None)
            else:
                self.cache[uid] = obj
            self._publish(event.type, obj)
        return False
