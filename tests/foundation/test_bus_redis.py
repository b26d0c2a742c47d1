"""Redis-specific behaviour: several processes sharing one Redis, timeouts, lost state."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from pilothouse.bus.redis import RedisBus

from .conftest import REDIS_URL


@pytest.fixture
async def buses(redis_prefix: str) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    """Two buses on one Redis and prefix: two server replicas."""
    first = RedisBus.from_url(REDIS_URL, prefix=redis_prefix)
    second = RedisBus.from_url(REDIS_URL, prefix=redis_prefix)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_work_leased_by_a_crashed_replica_is_redelivered_elsewhere(
    buses: tuple[RedisBus, RedisBus],
) -> None:
    first, second = buses
    message_id = await first.enqueue("cluster-a", {"cmd": "get pods"})
    leased = await first.lease("cluster-a", "executor-1", wait_seconds=0, lease_seconds=0.3)
    assert leased is not None
    await first.close()  # the replica dies holding the lease

    redelivered = await second.lease("cluster-a", "executor-2", wait_seconds=3, lease_seconds=30)
    assert redelivered is not None
    assert redelivered.id == message_id
    assert redelivered.delivery_count == 2
    assert await second.ack("cluster-a", message_id) is True


async def test_fan_out_across_replicas(buses: tuple[RedisBus, RedisBus]) -> None:
    first, second = buses
    async with first.subscribe("events") as on_first, second.subscribe("events") as on_second:
        await second.publish("events", {"kind": "Pod", "name": "web-1"})
        assert await on_first.get(2) == {"kind": "Pod", "name": "web-1"}
        assert await on_second.get(2) == {"kind": "Pod", "name": "web-1"}


async def test_waiting_longer_than_the_socket_timeout(redis_prefix: str) -> None:
    # Blocking reads are chunked below the socket timeout, so a long idle wait is not
    # mistaken for a dead connection.
    bus = RedisBus.from_url(REDIS_URL, prefix=redis_prefix, block_chunk_seconds=0.2, socket_timeout=0.5)
    try:
        started = time.perf_counter()
        assert await bus.lease("idle", "executor-1", wait_seconds=1.5, lease_seconds=5) is None
        assert time.perf_counter() - started >= 1.4
        async with bus.subscribe("quiet") as subscription:
            assert await subscription.get(1.2) is None
        assert await bus.ping()
    finally:
        await bus.close()


def test_socket_timeout_must_exceed_the_blocking_chunk() -> None:
    with pytest.raises(ValueError, match="socket_timeout"):
        RedisBus.from_url(REDIS_URL, block_chunk_seconds=5, socket_timeout=5)


async def test_recovers_when_redis_lost_the_queue(redis_prefix: str) -> None:
    bus = RedisBus.from_url(REDIS_URL, prefix=redis_prefix)
    raw = aioredis.Redis.from_url(REDIS_URL)
    try:
        await bus.enqueue("q", {"n": 1})
        # Redis restarted without persistence: stream and consumer group are gone.
        keys = [key async for key in raw.scan_iter(match=f"{redis_prefix}*")]
        assert keys
        assert all(key.decode().startswith(redis_prefix) for key in keys)
        await raw.delete(*keys)

        await bus.enqueue("q", {"n": 2})
        message = await bus.lease("q", "executor-1", wait_seconds=1, lease_seconds=5)
        assert message is not None
        assert message.payload == {"n": 2}
    finally:
        await raw.aclose()
        await bus.close()


async def test_ping_is_false_when_redis_is_unreachable() -> None:
    bus = RedisBus.from_url("redis://127.0.0.1:1/0")
    try:
        assert await bus.ping() is False
    finally:
        await bus.close()
