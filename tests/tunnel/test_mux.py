"""The tunnel multiplexer: two real ``Mux`` ends over an in-memory connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from pilothouse.tunnel import mux as mux_module
from pilothouse.tunnel.mux import CHUNK, DATA, WINDOW, Mux, Stream, frame


class Pipe:
    """One direction each way; ``receive`` returns None once closed."""

    def __init__(self, inbox: asyncio.Queue[bytes | None], outbox: asyncio.Queue[bytes | None]) -> None:
        self.inbox = inbox
        self.outbox = outbox
        self.sent: list[bytes] = []

    async def send(self, data: bytes) -> None:
        self.sent.append(data)
        await self.outbox.put(data)

    async def receive(self) -> bytes | None:
        return await self.inbox.get()

    async def close(self, reason: str) -> None:
        await self.outbox.put(None)
        await self.inbox.put(None)


Handler = Callable[[Stream, str, dict[str, Any]], Awaitable[None]]


async def pair(handler: Handler) -> AsyncIterator[tuple[Mux, Mux, Pipe]]:
    a: asyncio.Queue[bytes | None] = asyncio.Queue()
    b: asyncio.Queue[bytes | None] = asyncio.Queue()
    server_pipe = Pipe(a, b)
    server = Mux(server_pipe)
    executor = Mux(Pipe(b, a), on_open=handler)
    tasks = [asyncio.create_task(server.run()), asyncio.create_task(executor.run())]
    try:
        yield server, executor, server_pipe
    finally:
        await server.close("done")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_large_message_is_chunked_and_reassembled() -> None:
    payload = bytes(range(256)) * (3 * WINDOW // 256)  # three windows: credit must flow

    async def handler(stream: Stream, op: str, args: dict[str, Any]) -> None:
        await stream.send(payload)
        await stream.end({"ok": True})

    async for server, _, pipe in pair(handler):
        stream = await server.open("big", {})
        message = await asyncio.wait_for(stream.receive(), 10)
        assert message == payload
        assert await stream.receive() is None
        assert stream.end_payload == {"ok": True}
        assert max(len(sent) for sent in pipe.sent) <= CHUNK + 5
        assert server.open_streams == 0


async def test_a_stalled_stream_does_not_block_another() -> None:
    async def handler(stream: Stream, op: str, args: dict[str, Any]) -> None:
        if op == "flood":
            while True:
                await stream.send(b"x" * CHUNK)
        await stream.send(b"pong")
        await stream.end()

    async for server, _, _ in pair(handler):
        flood = await server.open("flood", {})  # never read: its window fills and it waits
        await asyncio.sleep(0.2)
        ping = await server.open("ping", {})
        assert await asyncio.wait_for(ping.receive(), 5) == b"pong"
        await flood.cancel()


async def test_cancel_stops_the_handler() -> None:
    stopped = asyncio.Event()

    async def handler(stream: Stream, op: str, args: dict[str, Any]) -> None:
        try:
            while True:
                await stream.send(b"tick")
                await asyncio.sleep(0.01)
        finally:
            stopped.set()

    async for server, executor, _ in pair(handler):
        stream = await server.open("ticks", {})
        assert await stream.receive() == b"tick"
        await stream.cancel()
        await asyncio.wait_for(stopped.wait(), 5)
        await asyncio.sleep(0.05)
        assert executor.open_streams == 0


async def test_closing_the_connection_ends_every_stream() -> None:
    async def handler(stream: Stream, op: str, args: dict[str, Any]) -> None:
        await asyncio.sleep(60)

    async for server, executor, _ in pair(handler):
        streams = [await server.open("wait", {}) for _ in range(3)]
        await asyncio.sleep(0.05)
        await executor.close("executor restarted")
        for stream in streams:
            assert await asyncio.wait_for(stream.receive(), 5) is None
            assert "unavailable" in (stream.end_payload or {})


async def test_a_peer_overrunning_the_window_has_its_stream_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    async def handler(stream: Stream, op: str, args: dict[str, Any]) -> None:
        # Ignore flow control: write frames straight to the connection.
        for _ in range(3 * WINDOW // CHUNK):
            await stream._mux.send_frame(stream.id, DATA, b"y" * CHUNK)
        await asyncio.sleep(60)

    async for server, _, _ in pair(handler):
        stream = await server.open("rogue", {})
        await asyncio.sleep(0.5)
        while (message := await asyncio.wait_for(stream.receive(), 5)) is not None:
            assert message
        assert stream.end_payload is not None
        assert stream.end_payload["error"]["message"] == "flow control overrun"


async def test_malformed_frames_are_ignored() -> None:
    async def handler(stream: Stream, op: str, args: dict[str, Any]) -> None:
        await stream.send(b"fine")
        await stream.end()

    async for server, executor, _ in pair(handler):
        await executor._dispatch(b"\x00")  # shorter than a header
        await executor._dispatch(frame(999, DATA, b"for nobody"))
        await executor._dispatch(frame(7, mux_module.OPEN, b"not json"))  # opens op "" → handled
        stream = await server.open("ok", {})
        assert await stream.receive() == b"fine"
