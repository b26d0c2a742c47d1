"""Streams multiplexed over one WebSocket, with credit-based flow control per stream.

Every WebSocket message is one binary frame: a 4-byte stream id, a 1-byte frame type, a payload.

    OPEN   {"op": ..., "args": {...}} (JSON)    opens a stream (the server opens them all)
    DATA   bytes: the last (or only) part of a message
    PART   bytes: a part of a message that goes on in the next frame
    END    {"error"?: ..., ...} (JSON)          the sender will send nothing more on the stream
    CREDIT 4-byte count                          the receiver consumed that many more bytes
    CANCEL (empty)                               the receiver wants nothing more: stop

A sender may have at most ``WINDOW`` unacknowledged payload bytes in flight per stream; the
receiver grants credit as its consumer takes messages, so a stalled consumer (a slow log
reader) stalls only its own stream, never the connection. The PART frames of a message are
credited as they arrive (a message larger than the window could never be taken otherwise);
``MAX_MESSAGE`` bounds what one message may hold. Messages are cut into ``CHUNK``-sized
frames so a large list does not hold the socket for others.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

import orjson

from pilothouse.observability.logging import get_logger

log = get_logger(__name__)

OPEN: Final = 1
DATA: Final = 2
PART: Final = 3
END: Final = 4
CREDIT: Final = 5
CANCEL: Final = 6

WINDOW: Final = 4 * 1024 * 1024
CHUNK: Final = 256 * 1024
_HEADER = struct.Struct(">IB")
_COUNT = struct.Struct(">I")
# A peer that sends past its window is broken or hostile; its stream ends rather than memory.
_MAX_BUFFERED = 2 * WINDOW
# Parts of one message are credited as they arrive (the message cannot be consumed before it is
# whole, so waiting for its consumer would deadlock a message larger than the window); this
# bounds the memory one message may take instead.
MAX_MESSAGE = 64 * 1024 * 1024


class Connection(Protocol):
    async def send(self, data: bytes) -> None: ...

    async def receive(self) -> bytes | None:
        """The next message; None once the connection is closed."""
        ...

    async def close(self, reason: str) -> None: ...


class TunnelClosed(Exception):
    """The connection went away while a stream was still in use."""


def frame(stream_id: int, kind: int, payload: bytes = b"") -> bytes:
    return _HEADER.pack(stream_id, kind) + payload


class _End:
    __slots__ = ("payload",)

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload


class Stream:
    def __init__(self, mux: Mux, stream_id: int) -> None:
        self.id = stream_id
        self._mux = mux
        # (message, bytes of it not yet credited: its last frame) or the end.
        self._inbox: asyncio.Queue[tuple[bytes, int] | _End] = asyncio.Queue()
        self._parts: list[bytes] = []
        self._parts_size = 0
        self._buffered = 0
        self._window = WINDOW
        self._window_open = asyncio.Event()
        self._window_open.set()
        self._consumed = 0
        self.end_payload: dict[str, Any] | None = None
        self.sent_end = False
        self.cancelled = asyncio.Event()

    # --- sending ------------------------------------------------------------------------------

    async def send(self, message: bytes) -> None:
        """Send one message (cut into frames), waiting for credit as needed."""
        view = memoryview(message)
        offset = 0
        while True:
            await self._wait_for_window()
            piece = view[offset : offset + CHUNK]
            offset += len(piece)
            last = offset >= len(message)
            self._window -= len(piece)
            if self._window <= 0:
                self._window_open.clear()
            await self._mux.send_frame(self.id, DATA if last else PART, bytes(piece))
            if last:
                return

    async def send_json(self, value: Any) -> None:
        await self.send(orjson.dumps(value))

    async def end(self, payload: dict[str, Any] | None = None) -> None:
        if self.sent_end or self._mux.closed:
            return
        self.sent_end = True
        await self._mux.send_frame(self.id, END, orjson.dumps(payload or {}))

    async def cancel(self) -> None:
        """Tell the other end to stop; nothing more is read from this stream."""
        if self.end_payload is None and not self._mux.closed:
            with contextlib.suppress(TunnelClosed):
                await self._mux.send_frame(self.id, CANCEL)
        self.end_payload = self.end_payload or {"cancelled": True}
        self.sent_end = True
        self._mux.forget(self)

    async def _wait_for_window(self) -> None:
        while self._window <= 0:
            if self._mux.closed:
                raise TunnelClosed("the tunnel closed")
            if self.cancelled.is_set():
                raise asyncio.CancelledError("the stream was cancelled by the other end")
            await self._window_open.wait()
        if self._mux.closed:
            raise TunnelClosed("the tunnel closed")

    # --- receiving ----------------------------------------------------------------------------

    async def receive(self) -> bytes | None:
        """The next whole message; None once the other end ended the stream (see ``end_payload``)."""
        if self.end_payload is not None and self._inbox.empty():
            return None
        item = await self._inbox.get()
        if isinstance(item, _End):
            self.end_payload = item.payload
            return None
        message, uncredited = item
        self._buffered -= uncredited
        await self._consumed_bytes(uncredited)
        return message

    async def _consumed_bytes(self, count: int) -> None:
        self._consumed += count
        if self._consumed >= WINDOW // 2 and not self._mux.closed:
            consumed, self._consumed = self._consumed, 0
            with contextlib.suppress(TunnelClosed):
                await self._mux.send_frame(self.id, CREDIT, _COUNT.pack(consumed))

    # --- called by the mux --------------------------------------------------------------------

    async def _on_data(self, kind: int, payload: bytes) -> bool:
        """Take a frame's payload; False if the peer overran the window or the message limit."""
        self._parts.append(payload)
        self._parts_size += len(payload)
        if kind == PART:
            # Credited at once: the message cannot reach its consumer before it is whole.
            await self._consumed_bytes(len(payload))
            return self._parts_size <= MAX_MESSAGE
        message = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        self._parts, self._parts_size = [], 0
        # The last frame waits for the consumer: a stalled reader stalls the sender.
        self._buffered += len(payload)
        if self._buffered > _MAX_BUFFERED:
            return False
        self._inbox.put_nowait((message, len(payload)))
        return True

    def _on_credit(self, count: int) -> None:
        self._window += count
        if self._window > 0:
            self._window_open.set()

    def _on_end(self, payload: dict[str, Any]) -> None:
        self._inbox.put_nowait(_End(payload))
        # Whoever waits for credit on an ended stream must not wait forever.
        self._window_open.set()

    def _on_cancel(self) -> None:
        self.cancelled.set()
        self._window_open.set()


OpenHandler = Callable[[Stream, str, dict[str, Any]], Awaitable[None]]


class Mux:
    """Both ends of the tunnel. ``run()`` reads frames until the connection closes."""

    def __init__(
        self, connection: Connection, *, on_open: OpenHandler | None = None, first_id: int = 1
    ) -> None:
        self._connection = connection
        self._on_open = on_open
        self._streams: dict[int, Stream] = {}
        self._handlers: dict[int, asyncio.Task[None]] = {}
        self._ids = itertools.count(first_id, 2)
        self._send_lock = asyncio.Lock()
        self.closed = False
        self.close_reason = ""

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    async def open(self, op: str, args: dict[str, Any]) -> Stream:
        stream = Stream(self, next(self._ids))
        self._streams[stream.id] = stream
        await self.send_frame(stream.id, OPEN, orjson.dumps({"op": op, "args": args}))
        return stream

    async def send_frame(self, stream_id: int, kind: int, payload: bytes = b"") -> None:
        if self.closed:
            raise TunnelClosed(self.close_reason or "the tunnel closed")
        async with self._send_lock:
            try:
                await self._connection.send(frame(stream_id, kind, payload))
            except Exception as exc:  # any failure to write means the connection is gone
                self._mark_closed(f"send failed: {exc or type(exc).__name__}")
                raise TunnelClosed(self.close_reason) from exc

    def forget(self, stream: Stream) -> None:
        self._streams.pop(stream.id, None)

    async def run(self) -> None:
        try:
            while True:
                message = await self._connection.receive()
                if message is None:
                    break
                await self._dispatch(message)
        finally:
            self._mark_closed(self.close_reason or "the connection closed")
            for task in list(self._handlers.values()):
                task.cancel()
            for task in list(self._handlers.values()):
                with contextlib.suppress(BaseException):
                    await task

    async def close(self, reason: str) -> None:
        self._mark_closed(reason)
        with contextlib.suppress(Exception):
            await self._connection.close(reason)

    def _mark_closed(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        for stream in list(self._streams.values()):
            stream._on_end({"unavailable": f"the tunnel closed: {reason}"})
        self._streams.clear()

    async def _dispatch(self, message: bytes) -> None:
        if len(message) < _HEADER.size:
            log.warning("tunnel.frame.malformed", size=len(message))
            return
        stream_id, kind = _HEADER.unpack_from(message)
        payload = message[_HEADER.size :]
        if kind == OPEN:
            await self._open_from_peer(stream_id, payload)
            return
        stream = self._streams.get(stream_id)
        if stream is None:
            return  # a late frame for a stream already finished or cancelled
        if kind in (DATA, PART):
            if not await stream._on_data(kind, payload):
                log.warning("tunnel.stream.overrun", stream_id=stream_id)
                stream._on_end(
                    {"error": {"status": 502, "reason": "BadGateway", "message": "flow control overrun"}}
                )
                await stream.cancel()
        elif kind == CREDIT and len(payload) == _COUNT.size:
            stream._on_credit(_COUNT.unpack(payload)[0])
        elif kind == END:
            stream._on_end(_json_object(payload))
            # Nothing more arrives on it; what is queued stays readable from the Stream.
            self.forget(stream)
        elif kind == CANCEL:
            stream._on_cancel()
            handler = self._handlers.get(stream_id)
            if handler is not None:
                handler.cancel()
            self.forget(stream)

    async def _open_from_peer(self, stream_id: int, payload: bytes) -> None:
        request = _json_object(payload)
        if self._on_open is None or stream_id in self._streams:
            await self.send_frame(
                stream_id,
                END,
                orjson.dumps(
                    {"error": {"status": 400, "reason": "BadRequest", "message": "cannot open a stream here"}}
                ),
            )
            return
        stream = Stream(self, stream_id)
        self._streams[stream_id] = stream
        task = asyncio.create_task(
            self._handle(stream, str(request.get("op") or ""), request.get("args") or {})
        )
        self._handlers[stream_id] = task

    async def _handle(self, stream: Stream, op: str, args: dict[str, Any]) -> None:
        assert self._on_open is not None
        try:
            await self._on_open(stream, op, args if isinstance(args, dict) else {})
        except asyncio.CancelledError:
            pass
        except TunnelClosed:
            pass
        except Exception:
            log.exception("tunnel.stream.handler_failed", op=op)
            with contextlib.suppress(TunnelClosed):
                await stream.end(
                    {
                        "error": {
                            "status": 500,
                            "reason": "InternalError",
                            "message": f"executor error in {op}",
                        }
                    }
                )
        finally:
            self._handlers.pop(stream.id, None)
            # The peer cannot tell us it is done reading; a finished handler is done here.
            self.forget(stream)


def _json_object(payload: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(payload) if payload else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
