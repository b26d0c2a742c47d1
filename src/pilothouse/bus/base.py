"""The message bus port: fan-out topics and durable, leased work queues.

Topics are live notifications (an object changed, a stream produced output): every
subscriber that is subscribed when a message is published gets it; nobody gets it later.
Use them for things a late or disconnected reader can recover by re-reading state.

Queues carry work that must not be lost (a command for an executor). A message is handed
to one consumer at a time under a lease; if it is not acknowledged before the lease ends
it becomes available again (at-least-once delivery, ``delivery_count`` counts attempts).
Consumers must therefore be idempotent by message or command id.

Payloads are JSON objects (dicts of JSON values).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    queue: str
    payload: JsonObject
    # 1 on first delivery; more means an earlier lease expired without an ack.
    delivery_count: int


class Subscription(Protocol):
    topic: str

    def __aiter__(self) -> AsyncIterator[JsonObject]: ...

    async def get(self, wait_seconds: float | None = None) -> JsonObject | None:
        """The next message, or None if none arrived within ``wait_seconds`` (None: wait forever)."""
        ...


class Bus(Protocol):
    # True when messages never leave this process (the in-process bus): whoever enqueues a
    # message is then the only one who can lease it, and may keep the work's state in memory.
    process_local: bool

    async def publish(self, topic: str, payload: Mapping[str, Any]) -> None:
        """Deliver to every current subscriber of ``topic`` (at most once, no persistence)."""
        ...

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[Subscription]:
        """Subscribe for the duration of an ``async with`` block.

        The subscription is active when the block is entered: anything published after
        that is received.
        """
        ...

    async def enqueue(self, queue: str, payload: Mapping[str, Any]) -> str:
        """Append a message to a work queue; returns its id."""
        ...

    async def lease(
        self, queue: str, consumer: str, wait_seconds: float, lease_seconds: float
    ) -> Message | None:
        """Take the next available message for ``lease_seconds``, waiting up to ``wait_seconds``.

        Messages whose lease expired come before new ones. Returns None on timeout.
        """
        ...

    async def ack(self, queue: str, message_id: str) -> bool:
        """Acknowledge (remove) a message. True if it was outstanding; acking again is a no-op."""
        ...

    async def queue_depth(self, queue: str) -> int:
        """Messages not yet acknowledged, waiting or leased."""
        ...

    async def ping(self) -> bool:
        """True if the bus can currently deliver messages."""
        ...

    async def close(self) -> None: ...
