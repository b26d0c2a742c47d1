"""Redis bus: Streams with a consumer group per work queue, pub/sub for topics.

Queues. Each queue is a stream with one consumer group (competing consumers) and a sorted
set of lease deadlines. Taking a message is one Lua script, atomic on the server: reclaim
the oldest expired lease with XCLAIM (which bumps the delivery count), else read a new
entry with XREADGROUP, and record the new deadline. Per-message deadlines are kept
because a lease belongs to the message that was leased, not to whoever asks next (idle
time alone, as XAUTOCLAIM uses, would apply the asker's lease length). Doing it in one
script means a crash can never leave a delivered message without a deadline. Deadlines
use the Redis server clock, so replicas with skewed clocks agree.

Waiting for work is XREAD BLOCK from the stream's last id: it wakes as soon as anything
is added, without consuming it. Blocking happens in chunks of at most
``block_chunk_seconds`` and the socket timeout is set above that, so a healthy idle wait
never looks like a dead connection. Ack is XACK + XDEL + ZREM in one transaction, so the
stream holds exactly the unacknowledged messages.

Topics use plain pub/sub: at most once, and messages published while a subscriber is
disconnected are lost (see the topic contract in bus/base.py).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pilothouse.bus.base import JsonObject, Message
from pilothouse.observability.logging import get_logger

log = get_logger(__name__)

GROUP = "consumers"
_STREAM_ID = re.compile(r"\d+-\d+")
_DATA_FIELD = b"data"

# Returns {"m", id, fields, delivery_count} for a message, or {"w", last_id, ms_until_next_expiry}
# (-1 when nothing is leased) when the caller should wait.
_LEASE_SCRIPT = """
-- Redis < 7 replicates scripts verbatim, which forbids writes after TIME; ask for effects.
if redis.replicate_commands then redis.replicate_commands() end
local stream, leases = KEYS[1], KEYS[2]
local group, consumer, lease_ms = ARGV[1], ARGV[2], tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
while true do
  local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, 1)
  if #expired == 0 then break end
  local id = expired[1]
  local claimed = redis.call('XCLAIM', stream, group, consumer, 0, id)
  if #claimed > 0 and claimed[1] then
    redis.call('ZADD', leases, now + lease_ms, id)
    local pending = redis.call('XPENDING', stream, group, id, id, 1)
    return {'m', id, claimed[1][2], pending[1][4]}
  end
  redis.call('ZREM', leases, id)
end
local new = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', 1, 'STREAMS', stream, '>')
if new and new[1] and #new[1][2] > 0 then
  local entry = new[1][2][1]
  redis.call('ZADD', leases, now + lease_ms, entry[1])
  return {'m', entry[1], entry[2], 1}
end
local info = redis.call('XINFO', 'STREAM', stream)
local last_id = '0-0'
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last_id = info[i + 1] end
end
local wait = -1
local nxt = redis.call('ZRANGE', leases, 0, 0, 'WITHSCORES')
if #nxt > 0 then wait = math.max(1, tonumber(nxt[2]) - now) end
return {'w', last_id, wait}
"""


def _encode(payload: Mapping[str, Any]) -> bytes:
    return orjson.dumps(payload)


def _decode(raw: bytes | str) -> JsonObject:
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise TypeError("bus payloads must be JSON objects")
    return value


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisSubscription:
    def __init__(self, pubsub: PubSub, topic: str, channel: str, chunk_seconds: float) -> None:
        self.topic = topic
        self._pubsub = pubsub
        self._channel = channel
        self._chunk = chunk_seconds

    async def start(self) -> None:
        await self._pubsub.subscribe(self._channel)
        # Wait for the server's confirmation: only then is a publish from another
        # connection guaranteed to reach us.
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + 10.0
        while loop.time() < give_up_at:
            reply = await self._pubsub.get_message(timeout=self._chunk)
            if reply is not None and reply.get("type") == "subscribe":
                return
        raise RedisTimeoutError(f"no subscribe confirmation for {self._channel}")

    async def get(self, wait_seconds: float | None = None) -> JsonObject | None:
        loop = asyncio.get_running_loop()
        give_up_at = None if wait_seconds is None else loop.time() + wait_seconds
        while True:
            remaining = self._chunk if give_up_at is None else min(self._chunk, give_up_at - loop.time())
            if remaining <= 0:
                return None
            try:
                reply = await self._pubsub.get_message(timeout=remaining)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                # redis-py reconnects and re-subscribes on the next read; what was
                # published meanwhile is lost, which the topic contract allows.
                log.warning("bus_subscription_reconnecting", topic=self.topic, error=str(exc))
                await asyncio.sleep(min(1.0, remaining))
                continue
            if reply is not None and reply.get("type") == "message":
                return _decode(reply["data"])

    async def __aiter__(self) -> AsyncIterator[JsonObject]:
        while True:
            message = await self.get()
            if message is not None:
                yield message

    async def close(self) -> None:
        try:
            await self._pubsub.unsubscribe(self._channel)
        finally:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]


class RedisBus:
    process_local = False

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "pilothouse:",
        block_chunk_seconds: float = 5.0,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._chunk = block_chunk_seconds
        self._lease_script = client.register_script(_LEASE_SCRIPT)
        self._groups: set[str] = set()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "pilothouse:",
        block_chunk_seconds: float = 5.0,
        socket_timeout: float | None = None,
    ) -> RedisBus:
        # The socket timeout must exceed the longest server-side block, or an idle but
        # healthy XREAD BLOCK / pub/sub read would be cut off as a dead connection.
        timeout = socket_timeout if socket_timeout is not None else block_chunk_seconds + 5.0
        if timeout <= block_chunk_seconds:
            raise ValueError("socket_timeout must exceed block_chunk_seconds")
        client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=5.0,
            health_check_interval=30,
        )
        return cls(client, prefix=prefix, block_chunk_seconds=block_chunk_seconds)

    # Hash tags keep a queue's stream and lease set in one Redis Cluster slot, as the
    # Lua script requires.
    def _stream_key(self, queue: str) -> str:
        return f"{self._prefix}queue:{{{queue}}}"

    def _leases_key(self, queue: str) -> str:
        return f"{self._prefix}queue:{{{queue}}}:leases"

    def _channel(self, topic: str) -> str:
        return f"{self._prefix}topic:{topic}"

    async def _ensure_group(self, queue: str, *, force: bool = False) -> None:
        if queue in self._groups and not force:
            return
        try:
            # From id 0: messages enqueued before the group existed are still delivered.
            await self._client.xgroup_create(self._stream_key(queue), GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(queue)

    async def publish(self, topic: str, payload: Mapping[str, Any]) -> None:
        await self._client.publish(self._channel(topic), _encode(payload))

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[RedisSubscription]:
        subscription = RedisSubscription(self._client.pubsub(), topic, self._channel(topic), self._chunk)
        try:
            await subscription.start()
            yield subscription
        finally:
            await subscription.close()

    async def enqueue(self, queue: str, payload: Mapping[str, Any]) -> str:
        await self._ensure_group(queue)
        message_id = await self._client.xadd(self._stream_key(queue), {_DATA_FIELD: _encode(payload)})
        return _text(message_id)

    async def _try_lease(self, queue: str, consumer: str, lease_ms: int) -> list[Any]:
        keys = [self._stream_key(queue), self._leases_key(queue)]
        try:
            return cast(list[Any], await self._lease_script(keys=keys, args=[GROUP, consumer, lease_ms]))
        except ResponseError as exc:
            if "NOGROUP" not in str(exc) and "no such key" not in str(exc):
                raise
        # The group vanished (Redis flushed or restarted without persistence): recreate.
        await self._ensure_group(queue, force=True)
        return cast(list[Any], await self._lease_script(keys=keys, args=[GROUP, consumer, lease_ms]))

    async def lease(
        self, queue: str, consumer: str, wait_seconds: float, lease_seconds: float
    ) -> Message | None:
        await self._ensure_group(queue)
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + max(0.0, wait_seconds)
        lease_ms = max(1, round(lease_seconds * 1000))
        while True:
            reply = await self._try_lease(queue, consumer, lease_ms)
            if _text(reply[0]) == "m":
                message_id, fields, deliveries = _text(reply[1]), reply[2], int(reply[3])
                data = dict(zip(fields[::2], fields[1::2], strict=True))
                return Message(message_id, queue, _decode(data[_DATA_FIELD]), deliveries)
            last_id, next_expiry_ms = _text(reply[1]), int(reply[2])
            remaining = give_up_at - loop.time()
            if remaining <= 0:
                return None
            block = min(remaining, self._chunk)
            if next_expiry_ms >= 0:
                block = min(block, next_expiry_ms / 1000)
            # BLOCK 0 would mean "forever".
            block_ms = max(1, round(block * 1000))
            await self._client.xread({self._stream_key(queue): last_id}, count=1, block=block_ms)

    async def ack(self, queue: str, message_id: str) -> bool:
        if not _STREAM_ID.fullmatch(message_id):
            # Not an id this bus could have issued; Redis would reject it with an error.
            return False
        stream = self._stream_key(queue)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.xack(stream, GROUP, message_id)
            pipe.xdel(stream, message_id)
            pipe.zrem(self._leases_key(queue), message_id)
            _acked, deleted, _unleased = await pipe.execute()
        return int(deleted) > 0

    async def queue_depth(self, queue: str) -> int:
        return int(await self._client.xlen(self._stream_key(queue)))

    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self._client.ping(), 2.0))
        except (TimeoutError, RedisConnectionError, RedisTimeoutError, OSError):
            return False

    async def close(self) -> None:
        await self._client.aclose()
