"""How the API is served: uvicorn's configuration, in one place, with one change to its HTTP/1.1
protocol.

uvicorn writes a response's head and its body with two transport writes, and each write on an
idle socket is a ``send()`` system call at once: two calls and two TCP segments per response, and
the client wakes up for each. Under the fleet bench's load those writes were a ninth of the event
loop's time. :class:`CoalescingTransport` collects what a connection writes during one turn of
the event loop and sends it with one write when the turn ends (a head and its body are written
without the application giving way in between), so a response is one system call.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Pending bytes that are written at once rather than at the end of the turn: a streaming body
# whose producer does not give way is sent, and meets the transport's flow control, as it goes.
SEND_AT_ONCE_BYTES = 64 * 1024


class CoalescingTransport(asyncio.Transport):
    """A transport that hands what is written to ``transport`` once per turn of the event loop,
    in order (at once when ``SEND_AT_ONCE_BYTES`` are pending); everything else is
    ``transport``'s. ``close()``, ``write_eof()`` and ``send_pending()`` send what is pending
    first; ``abort()`` drops it, as the transport drops its own buffer. Once ``set_protocol`` has
    handed the connection to another protocol (a WebSocket), writes go straight through."""

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__()
        self._transport = transport
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._coalescing = True
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._coalescing:
            self._transport.write(data)
            return
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.send_pending)
        # A copy of what is not bytes: the caller may reuse its buffer once write() returns.
        chunk = data if type(data) is bytes else bytes(data)
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        if self._pending_bytes >= SEND_AT_ONCE_BYTES:
            self.send_pending()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def send_pending(self) -> None:
        """Send what is pending now (the end of a turn, or before the connection's end)."""
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.send_pending()
        self._transport.close()

    def write_eof(self) -> None:
        self.send_pending()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending, self._pending_bytes = [], 0
        self._transport.abort()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        # An upgrade (WebSocket): its frames are not worth the care a half-closed connection
        # would need from it (see CoalescingHttpToolsProtocol.eof_received).
        self.send_pending()
        self._coalescing = False
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._pending_bytes

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._coalescing_transport = CoalescingTransport(transport)
        super().connection_made(self._coalescing_transport)

    def eof_received(self) -> None:
        # The client has half-closed. uvloop handles that before the turn's callbacks and then
        # closes the transport itself: what is pending must be on it first.
        self._coalescing_transport.send_pending()
        super().eof_received()


def server_options(**overrides: Any) -> dict[str, Any]:
    """uvicorn's settings for Pilothouse's API (for ``uvicorn.run`` or ``uvicorn.Config``);
    ``overrides`` are uvicorn's own."""
    options: dict[str, Any] = {
        "http": CoalescingHttpToolsProtocol,
        # Our logging setup stays in force; the request middleware writes the access log.
        "log_config": None,
        "access_log": False,
        # A failing startup (database, migrations, Redis) must stop the process.
        "lifespan": "on",
        "proxy_headers": True,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
        # Kubilitics: "Server sends ping every 30 seconds; client must respond with pong".
        "ws_ping_interval": 30.0,
        "ws_ping_timeout": 30.0,
    }
    return {**options, **overrides}
