"""Shared watches for WebSocket clients: an informer per (cluster, resource type, namespace,
label selector), fanned out to every subscriber through a bounded queue of its own.

Subscribers get the current state as ADDED first, then changes. A subscriber that falls
``queue.maxsize`` messages behind is dropped (its connection is closed with a reason), so one
slow client never holds up the watch for the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from pilothouse.errors import utc_timestamp
from pilothouse.kube.informer import Informer
from pilothouse.kube.ops import ClusterOps, JsonObject, ResourceType

WatchKey = tuple[str, str, str, str, str]  # cluster, group, plural, namespace, label selector


def encode(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


@dataclass(eq=False)
class Subscriber:
    """One subscription of one client; ``queue`` holds messages ready to send (JSON text)."""

    subscription_id: str
    queue: asyncio.Queue[str]
    # Called once when the subscriber is dropped for falling behind.
    on_overflow: Callable[[str], None]
    dropped: bool = False

    def offer(self, message: str) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped = True
            self.on_overflow(
                f"slow consumer: subscription {self.subscription_id} "
                f"fell {self.queue.maxsize} messages behind"
            )

    def send(self, kind: str, resource_json: str) -> None:
        """An event whose object is already JSON: serialised once for every subscriber."""
        head = encode({"type": kind, "subscription_id": self.subscription_id, "timestamp": utc_timestamp()})
        self.offer(f'{head[:-1]},"resource":{resource_json}}}')


@dataclass(eq=False)
class SharedWatch:
    """An informer and the subscribers it feeds (the informer's listener)."""

    key: WatchKey
    informer: Informer
    subscribers: set[Subscriber] = field(default_factory=set)

    def add(self, subscriber: Subscriber) -> None:
        self.subscribers.add(subscriber)
        if self.informer.synced.is_set():
            for obj in self.informer.objects():
                subscriber.send("ADDED", encode(obj))

    def on_synced(self, objects: list[JsonObject]) -> None:
        encoded = [encode(obj) for obj in objects]
        for subscriber in list(self.subscribers):
            for resource_json in encoded:
                subscriber.send("ADDED", resource_json)

    def on_event(self, kind: str, obj: JsonObject) -> None:
        resource_json = encode(obj)
        for subscriber in list(self.subscribers):
            subscriber.send(kind, resource_json)

    def on_error(self, message: str) -> None:
        for subscriber in list(self.subscribers):
            subscriber.offer(
                encode(
                    {
                        "type": "ERROR",
                        "subscription_id": subscriber.subscription_id,
                        "error": f"the watch failed, retrying: {message}",
                        "timestamp": utc_timestamp(),
                    }
                )
            )


class WatchHub:
    """Every shared watch of this process."""

    def __init__(self) -> None:
        self._watches: dict[WatchKey, SharedWatch] = {}

    def subscribe(
        self,
        cluster_id: str,
        ops: ClusterOps,
        resource: ResourceType,
        namespace: str | None,
        label_selector: str | None,
        subscriber: Subscriber,
    ) -> SharedWatch:
        scoped = namespace if resource.namespaced else None
        key: WatchKey = (cluster_id, resource.group, resource.plural, scoped or "", label_selector or "")
        watch = self._watches.get(key)
        if watch is None:
            informer = Informer(ops, resource, namespace=scoped, label_selector=label_selector)
            watch = SharedWatch(key, informer)
            informer.listeners.add(watch)
            self._watches[key] = watch
            informer.start()
        watch.add(subscriber)
        return watch

    async def unsubscribe(self, watch: SharedWatch, subscriber: Subscriber) -> None:
        watch.subscribers.discard(subscriber)
        if not watch.subscribers and self._watches.get(watch.key) is watch:
            del self._watches[watch.key]
            await watch.informer.stop()

    @property
    def active(self) -> int:
        return len(self._watches)

    async def close(self) -> None:
        for watch in list(self._watches.values()):
            await watch.informer.stop()
        self._watches.clear()
