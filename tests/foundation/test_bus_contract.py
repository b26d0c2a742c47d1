"""The Bus contract, run against every implementation (the ``bus`` fixture is parametrized)."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

import pytest

from pilothouse.bus import InProcessBus, create_bus
from pilothouse.bus.base import Bus
from pilothouse.bus.redis import RedisBus
from pilothouse.settings import Settings

from .conftest import REDIS_URL


def queue_name() -> str:
    return f"q-{uuid.uuid4().hex[:8]}"


async def test_enqueue_lease_ack(bus: Bus) -> None:
    queue = queue_name()
    payload = {"command": ["get", "pods", "-A"], "nested": {"ü": [1, 2.5, None, True]}}
    message_id = await bus.enqueue(queue, payload)
    assert await bus.queue_depth(queue) == 1

    message = await bus.lease(queue, "executor-a", wait_seconds=0, lease_seconds=30)
    assert message is not None
    assert (message.id, message.queue, message.payload, message.delivery_count) == (
        message_id,
        queue,
        payload,
        1,
    )
    # Leased: nobody else gets it, but it still counts as unacknowledged.
    assert await bus.lease(queue, "executor-b", wait_seconds=0, lease_seconds=30) is None
    assert await bus.queue_depth(queue) == 1

    assert await bus.ack(queue, message_id) is True
    assert await bus.queue_depth(queue) == 0


async def test_unacked_message_is_redelivered_after_its_lease(bus: Bus) -> None:
    queue = queue_name()
    message_id = await bus.enqueue(queue, {"n": 1})
    first = await bus.lease(queue, "executor-a", wait_seconds=0, lease_seconds=0.3)
    assert first is not None

    # Not before the lease ends...
    assert await bus.lease(queue, "executor-b", wait_seconds=0.1, lease_seconds=5) is None
    # ...but once it has, to whoever asks (the first executor "crashed").
    second = await bus.lease(queue, "executor-b", wait_seconds=2, lease_seconds=5)
    assert second is not None
    assert second.id == message_id
    assert second.payload == {"n": 1}
    assert second.delivery_count == 2


async def test_a_blocked_lease_wakes_when_someone_elses_lease_expires(bus: Bus) -> None:
    queue = queue_name()
    await bus.enqueue(queue, {"n": 1})
    assert await bus.lease(queue, "executor-a", wait_seconds=0, lease_seconds=0.4) is not None

    started = time.perf_counter()
    redelivered = await bus.lease(queue, "executor-b", wait_seconds=5, lease_seconds=5)
    waited = time.perf_counter() - started
    assert redelivered is not None
    assert redelivered.delivery_count == 2
    # Woken by the expiry (~0.4 s), not by the end of its own 5 s wait.
    assert 0.2 < waited < 1.5


async def test_ack_is_idempotent(bus: Bus) -> None:
    queue = queue_name()
    message_id = await bus.enqueue(queue, {"n": 1})
    message = await bus.lease(queue, "executor-a", wait_seconds=0, lease_seconds=0.2)
    assert message is not None
    assert await bus.ack(queue, message_id) is True
    assert await bus.ack(queue, message_id) is False
    assert await bus.ack(queue, "no-such-id-0") is False
    # Acked means gone for good, even after the lease would have expired.
    await asyncio.sleep(0.3)
    assert await bus.lease(queue, "executor-b", wait_seconds=0, lease_seconds=5) is None
    assert await bus.queue_depth(queue) == 0


async def test_blocked_lease_wakes_immediately_on_enqueue(bus: Bus) -> None:
    queue = queue_name()
    latencies: list[float] = []
    for round_number in range(7):
        waiter = asyncio.create_task(bus.lease(queue, "executor-a", wait_seconds=5, lease_seconds=30))
        await asyncio.sleep(0.05)  # let it block
        assert not waiter.done()
        started = time.perf_counter()
        message_id = await bus.enqueue(queue, {"round": round_number})
        message = await waiter
        latencies.append(time.perf_counter() - started)
        assert message is not None
        assert message.payload == {"round": round_number}
        await bus.ack(queue, message_id)
    # The median is robust to one scheduling hiccup on a loaded machine; a polling
    # implementation would show its poll interval here.
    assert statistics.median(latencies) < 0.010, latencies


async def test_lease_times_out_with_none(bus: Bus) -> None:
    started = time.perf_counter()
    assert await bus.lease(queue_name(), "executor-a", wait_seconds=0.3, lease_seconds=5) is None
    assert 0.25 < time.perf_counter() - started < 1.5


async def test_fifo_and_each_message_to_exactly_one_consumer(bus: Bus) -> None:
    queue = queue_name()
    sent = [await bus.enqueue(queue, {"i": i}) for i in range(30)]
    received: list[tuple[str, int]] = []

    async def consume(name: str) -> None:
        while True:
            message = await bus.lease(queue, name, wait_seconds=0.3, lease_seconds=30)
            if message is None:
                return
            received.append((name, message.payload["i"]))
            assert message.delivery_count == 1
            await bus.ack(queue, message.id)

    await asyncio.gather(*(consume(f"executor-{n}") for n in range(3)))
    assert sorted(i for _, i in received) == list(range(30))
    assert len(sent) == len(set(sent)) == 30

    single = queue_name()
    for i in range(5):
        await bus.enqueue(single, {"i": i})
    order = []
    for _ in range(5):
        message = await bus.lease(single, "executor-a", wait_seconds=0, lease_seconds=30)
        assert message is not None
        order.append(message.payload["i"])
    assert order == [0, 1, 2, 3, 4]


async def test_queues_are_independent(bus: Bus) -> None:
    first, second = queue_name(), queue_name()
    await bus.enqueue(first, {"to": "first"})
    assert await bus.lease(second, "executor-a", wait_seconds=0, lease_seconds=5) is None
    message = await bus.lease(first, "executor-a", wait_seconds=0, lease_seconds=5)
    assert message is not None
    assert message.payload == {"to": "first"}


async def test_fan_out_reaches_every_subscriber(bus: Bus) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    async with (
        bus.subscribe(topic) as one,
        bus.subscribe(topic) as two,
        bus.subscribe(f"{topic}-other") as other,
    ):
        for i in range(3):
            await bus.publish(topic, {"i": i})
        for subscription in (one, two):
            assert [await subscription.get(2) for _ in range(3)] == [{"i": 0}, {"i": 1}, {"i": 2}]
        assert await other.get(0.2) is None
        assert await one.get(0.1) is None


async def test_subscription_iterates_and_ends_with_the_block(bus: Bus) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    async with bus.subscribe(topic) as subscription:
        await bus.publish(topic, {"n": 1})
        await bus.publish(topic, {"n": 2})
        seen = []
        async for message in subscription:
            seen.append(message)
            if len(seen) == 2:
                break
    assert seen == [{"n": 1}, {"n": 2}]
    # Publishing with nobody subscribed is not an error.
    await bus.publish(topic, {"n": 3})


async def test_non_json_payloads_are_rejected(bus: Bus) -> None:
    with pytest.raises(TypeError):
        await bus.enqueue(queue_name(), {"not": object()})


async def test_ping(bus: Bus) -> None:
    assert await bus.ping() is True


def test_create_bus_follows_settings() -> None:
    assert isinstance(create_bus(Settings()), InProcessBus)
    redis_bus = create_bus(Settings(redis_url=REDIS_URL))
    assert isinstance(redis_bus, RedisBus)
