"""In-process bus: asyncio only, for a single server process (the default, the demo, tests).

Payloads are round-tripped through JSON on the way in, so code that works here fails
here too when it would fail on Redis (a non-JSON value), and no caller can mutate a
message another one holds.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import orjson

from pilothouse.bus.base import JsonObject, Message
from pilothouse.ids import random_hex
from pilothouse.observability.logging import get_logger
from pilothouse.waiting import resolve, wait_on

log = get_logger(__name__)

# A subscriber that stops reading must not grow memory without bound; past this many
# unread messages the oldest are dropped (Redis disconnects such a client instead).
SUBSCRIBER_BUFFER = 10_000


def _copy(payload: Mapping[str, Any]) -> JsonObject:
    value = orjson.loads(orjson.dumps(payload))
    if not isinstance(value, dict):
        raise TypeError("bus payloads must be JSON objects")
    return value


@dataclass(slots=True)
class _Entry:
    id: str
    payload: JsonObject
    delivery_count: int = 0
    lease_deadline: float = 0.0


class _WorkQueue:
    def __init__(self) -> None:
        self.ready: deque[_Entry] = deque()
        self.leased: dict[str, _Entry] = {}
        # Consumers waiting in ``lease``, oldest first.
        self.waiters: deque[asyncio.Future[None]] = deque()

    def wake_one(self) -> None:
        while self.waiters:
            if resolve(self.waiters.popleft()):
                return

    def wake_all(self) -> None:
        waiters, self.waiters = self.waiters, deque()
        for waiter in waiters:
            resolve(waiter)

    def take(self, now: float) -> _Entry | None:
        # Expired leases first: that work is older than anything still waiting.
        # A linear scan is fine: the leased set is bounded by the number of consumers.
        expired = [entry for entry in self.leased.values() if entry.lease_deadline <= now]
        if expired:
            entry = min(expired, key=lambda item: item.lease_deadline)
            del self.leased[entry.id]
            return entry
        return self.ready.popleft() if self.ready else None

    def next_expiry(self) -> float | None:
        return min((entry.lease_deadline for entry in self.leased.values()), default=None)


class InProcessSubscription:
    def __init__(self, topic: str) -> None:
        self.topic = topic
        self._messages: asyncio.Queue[JsonObject] = asyncio.Queue(maxsize=SUBSCRIBER_BUFFER)
        self.dropped = 0

    def deliver(self, payload: JsonObject) -> None:
        if self._messages.full():
            self._messages.get_nowait()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("bus_subscriber_overflow", topic=self.topic, dropped=self.dropped)
        self._messages.put_nowait(payload)

    async def get(self, wait_seconds: float | None = None) -> JsonObject | None:
        try:
            return await asyncio.wait_for(self._messages.get(), wait_seconds)
        except TimeoutError:
            return None

    async def __aiter__(self) -> AsyncIterator[JsonObject]:
        while True:
            yield await self._messages.get()


class InProcessBus:
    process_local = True

    def __init__(self) -> None:
        self._subscribers: dict[str, set[InProcessSubscription]] = {}
        self._queues: dict[str, _WorkQueue] = {}
        self._closed = False

    def _queue(self, name: str) -> _WorkQueue:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = _WorkQueue()
        return queue

    async def publish(self, topic: str, payload: Mapping[str, Any]) -> None:
        message = _copy(payload)
        for subscription in tuple(self._subscribers.get(topic, ())):
            subscription.deliver(message)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[InProcessSubscription]:
        subscription = InProcessSubscription(topic)
        self._subscribers.setdefault(topic, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscribers.get(topic)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[topic]

    async def enqueue(self, queue: str, payload: Mapping[str, Any]) -> str:
        entry = _Entry(id=random_hex(), payload=_copy(payload))
        work = self._queue(queue)
        work.ready.append(entry)
        work.wake_one()
        return entry.id

    async def lease(
        self, queue: str, consumer: str, wait_seconds: float, lease_seconds: float
    ) -> Message | None:
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + max(0.0, wait_seconds)
        work = self._queue(queue)
        # No lock: nothing below awaits between looking at the queue and taking from it.
        while True:
            now = loop.time()
            entry = work.take(now)
            if entry is not None:
                entry.delivery_count += 1
                entry.lease_deadline = now + lease_seconds
                work.leased[entry.id] = entry
                # Waiters computed their timeout from the leases they saw; this one may
                # expire before those, so let them look again.
                work.wake_all()
                return Message(entry.id, queue, entry.payload, entry.delivery_count)
            remaining = give_up_at - now
            if remaining <= 0:
                return None
            # Also wake when a lease held by someone else runs out.
            next_expiry = work.next_expiry()
            timeout = remaining if next_expiry is None else min(remaining, max(0.0, next_expiry - now))
            waiter = loop.create_future()
            work.waiters.append(waiter)
            try:
                await wait_on(waiter, timeout)
            except BaseException:
                # Woken for new work, then cancelled: the work must wake someone else.
                if waiter.done() and not waiter.cancelled() and work.ready:
                    work.wake_one()
                raise
            finally:
                with suppress(ValueError):
                    work.waiters.remove(waiter)

    async def ack(self, queue: str, message_id: str) -> bool:
        work = self._queues.get(queue)
        if work is None:
            return False
        if work.leased.pop(message_id, None) is not None:
            return True
        for entry in work.ready:
            if entry.id == message_id:
                work.ready.remove(entry)
                return True
        return False

    async def queue_depth(self, queue: str) -> int:
        work = self._queues.get(queue)
        return len(work.ready) + len(work.leased) if work else 0

    async def ping(self) -> bool:
        return not self._closed

    async def close(self) -> None:
        self._closed = True
        self._subscribers.clear()
