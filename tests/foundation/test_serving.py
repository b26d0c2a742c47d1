"""serving.py: one write per response (CoalescingTransport) and the server options."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import uvicorn
import uvloop
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from pilothouse.serving import (
    SEND_AT_ONCE_BYTES,
    CoalescingHttpToolsProtocol,
    CoalescingTransport,
    server_options,
)


class RecordingTransport(asyncio.Transport):
    """What a protocol wrote, and the calls it made."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.calls: list[str] = []
        self.closing = False
        self.protocol: asyncio.BaseProtocol | None = None

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.calls.append("close")
        self.closing = True

    def abort(self) -> None:
        self.calls.append("abort")
        self.closing = True

    def write_eof(self) -> None:
        self.calls.append("write_eof")

    def can_write_eof(self) -> bool:
        return True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("10.0.0.7", 4321)}.get(name, default)

    def pause_reading(self) -> None:
        self.calls.append("pause_reading")

    def resume_reading(self) -> None:
        self.calls.append("resume_reading")

    def is_reading(self) -> bool:
        return True

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_write_buffer_size(self) -> int:
        return 5


async def next_turn() -> None:
    await asyncio.sleep(0)


async def test_writes_of_one_turn_leave_as_one_write_in_order() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real)
    transport.write(b"head ")
    transport.write(bytearray(b"and "))
    transport.write(memoryview(b"body"))
    assert real.writes == []
    assert transport.get_write_buffer_size() == 5 + len(b"head and body")
    await next_turn()
    assert real.writes == [b"head and body"]
    transport.write(b"")  # nothing to send: no write at all
    transport.write(b"later")
    await next_turn()
    await next_turn()
    assert real.writes == [b"head and body", b"later"]


async def test_writelines_is_writes() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real)
    transport.writelines([b"a", b"b"])
    await next_turn()
    assert real.writes == [b"ab"]


async def test_close_and_write_eof_send_what_is_pending_first() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real)
    transport.write(b"last words")
    transport.write_eof()
    assert real.writes == [b"last words"]
    assert real.calls == ["write_eof"]
    transport.write(b"goodbye")
    transport.close()
    assert real.writes == [b"last words", b"goodbye"]
    assert real.calls == ["write_eof", "close"]
    await next_turn()  # the scheduled send finds nothing left
    assert real.writes == [b"last words", b"goodbye"]


async def test_abort_drops_what_is_pending() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real)
    transport.write(b"never sent")
    transport.abort()
    await next_turn()
    assert real.writes == []
    assert real.calls == ["abort"]


async def test_nothing_is_written_to_a_closing_transport() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real)
    transport.write(b"too late")
    real.closing = True  # the connection was lost meanwhile
    await next_turn()
    assert real.writes == []
    assert transport.is_closing()


async def test_a_large_write_is_sent_at_once_for_flow_control() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real)
    transport.write(b"head")
    assert real.writes == []
    chunk = b"x" * SEND_AT_ONCE_BYTES
    transport.write(chunk)
    # Without waiting for the turn to end: the real transport's flow control sees it now.
    assert real.writes == [b"head" + chunk]
    assert transport.get_write_buffer_size() == 5
    await next_turn()
    assert len(real.writes) == 1


async def test_a_buffer_reused_after_write_does_not_change_what_is_sent() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real)
    buffer = bytearray(b"first")
    transport.write(buffer)
    transport.write(memoryview(buffer))
    buffer[:] = b"XXXXX"
    await next_turn()
    assert real.writes == [b"firstfirst"]


async def test_after_an_upgrade_writes_go_straight_through() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real)
    transport.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    transport.set_protocol(asyncio.Protocol())
    assert real.writes == [b"HTTP/1.1 101 Switching Protocols\r\n\r\n"]
    transport.write(b"frame")
    assert real.writes[-1] == b"frame"


async def test_everything_else_is_the_transports() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real)
    assert transport.get_extra_info("peername") == ("10.0.0.7", 4321)
    assert transport.get_extra_info("socket", "none") == "none"
    transport.pause_reading()
    transport.resume_reading()
    assert real.calls == ["pause_reading", "resume_reading"]
    assert transport.is_reading()
    assert transport.can_write_eof()
    protocol = asyncio.Protocol()
    transport.set_protocol(protocol)
    assert real.protocol is protocol


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"5")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"hello"})


async def responses_written(protocol_class: type[HttpToolsProtocol], requests: int) -> list[bytes]:
    """What uvicorn's protocol writes for ``requests`` keep-alive requests on one connection."""
    config = uvicorn.Config(hello, **server_options(http=protocol_class))
    config.load()
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    real = RecordingTransport()
    protocol.connection_made(real)
    for _ in range(requests):
        before = len(real.writes)
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
        async with asyncio.timeout(5):
            while len(real.writes) == before or not real.writes[-1].endswith(b"hello"):
                await next_turn()
    protocol.connection_lost(None)
    return real.writes


async def test_a_response_is_one_write() -> None:
    writes = await responses_written(CoalescingHttpToolsProtocol, requests=3)
    assert len(writes) == 3
    for response in writes:
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"content-length: 5\r\n" in response
        assert response.endswith(b"\r\n\r\nhello")
        assert b"server: uvicorn" not in response


async def test_uvicorns_own_protocol_writes_head_and_body_apart() -> None:
    """Why the protocol exists (and that the test above can tell)."""
    writes = await responses_written(HttpToolsProtocol, requests=1)
    assert len(writes) == 2
    assert writes[1] == b"hello"


async def slow_hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    # The loop is busy (other requests, a collection) while the client's FIN arrives, so that
    # the server learns of it in the turn in which it answers.
    time.sleep(0.2)
    await hello(scope, receive, send)


def half_closing_client(port: int, answers: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
        time.sleep(0.05)
        client.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
        answers.append(answer)


async def answers_to_half_closing_clients(clients: int) -> list[bytes]:
    config = uvicorn.Config(slow_hello, host="127.0.0.1", port=0, **server_options(lifespan="off"))
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    answers: list[bytes] = []
    try:
        for _ in range(clients):
            client = threading.Thread(target=half_closing_client, args=(port, answers))
            client.start()
            while client.is_alive():
                await asyncio.sleep(0.01)
    finally:
        server.should_exit = True
        await serving
    return answers


@pytest.mark.parametrize(
    "loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"]
)
def test_a_client_that_half_closes_still_gets_its_answer(
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    """uvloop handles the client's FIN before the turn's callbacks, then closes the transport:
    the pending response must be on it first (the serve command runs on uvloop)."""
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        answers = runner.run(answers_to_half_closing_clients(2))
    assert len(answers) == 2
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert answer.endswith(b"\r\n\r\nhello")


def test_server_options_are_overridable() -> None:
    options = server_options(log_level="warning", timeout_graceful_shutdown=1)
    assert options["http"] is CoalescingHttpToolsProtocol
    assert options["timeout_graceful_shutdown"] == 1
    assert options["log_level"] == "warning"
    assert options["server_header"] is False
    assert options["proxy_headers"] is True
