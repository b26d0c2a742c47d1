"""The Kubernetes exec stream protocol over a WebSocket, bridged to a sandboxed process.

Wire format of the binary channel subprotocols (k8s.io/apimachinery remotecommand,
client-go tools/remotecommand): every message starts with one channel byte.

    0 stdin  (client -> server)      3 error: the final metav1.Status JSON (server -> client)
    1 stdout (server -> client)      4 resize: {"Width": cols, "Height": rows} (client -> server)
    2 stderr (server -> client)    255 close signal, v5 only: [255, 0] ends stdin (client -> server)

A session, as the API server and kubelet run it: an empty message on the lowest
writable channel announces the streams are open, output is forwarded as it comes,
then one Status on the error channel, then a normal WebSocket close. kubectl (v5
only since 1.30) and kubernetes_asyncio (v4) read the exit code from that Status.

This module knows nothing of HTTP: the caller accepts the WebSocket, negotiates the
subprotocol with select_exec_subprotocol() and adapts its socket to ExecSocket.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final, Protocol

import orjson

from pilothouse.sim.sandbox import CommandStartError, SandboxProcess

STREAM_PROTOCOL_V5: Final = "v5.channel.k8s.io"
STREAM_PROTOCOL_V4: Final = "v4.channel.k8s.io"
# In server preference order.
EXEC_SUBPROTOCOLS: Final = (STREAM_PROTOCOL_V5, STREAM_PROTOCOL_V4)

STDIN_CHANNEL: Final = 0
STDOUT_CHANNEL: Final = 1
STDERR_CHANNEL: Final = 2
ERROR_CHANNEL: Final = 3
RESIZE_CHANNEL: Final = 4
CLOSE_SIGNAL: Final = 255

_logger = logging.getLogger(__name__)


class ExecSocket(Protocol):
    async def receive_bytes(self) -> bytes | None:
        """The next binary message from the client; None once the connection is closed."""
        ...

    async def send_bytes(self, data: bytes) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


def select_exec_subprotocol(offered: Iterable[str]) -> str | None:
    """Our most preferred subprotocol among those the client offers, if any."""
    offered_set = {protocol.strip() for protocol in offered}
    return next((protocol for protocol in EXEC_SUBPROTOCOLS if protocol in offered_set), None)


async def run_exec_session(
    socket: ExecSocket,
    subprotocol: str,
    start: Callable[[], Awaitable[SandboxProcess]],
    *,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
) -> None:
    """Run one exec from start to final Status over an accepted WebSocket.

    If the client goes away first, the command is killed and nothing more is sent.
    """
    if subprotocol not in EXEC_SUBPROTOCOLS:
        raise ValueError(f"unsupported exec subprotocol {subprotocol!r}")
    # With a tty, the command's stderr is the terminal too; the kubelet drops the stream.
    stderr = stderr and not tty
    channels = _Channels(socket, stdout=stdout, stderr=stderr, tty=tty)
    await channels.announce_open()
    try:
        process = await start()
    except CommandStartError as error:
        await channels.send_notice(str(error))
        await channels.finish(_exit_code_status(error.exit_code, error.argv, subprotocol))
        return
    except Exception as error:
        _logger.exception("exec could not start")
        await channels.finish(_internal_error_status(f"error executing command in container: {error}"))
        return
    session = _Session(channels, process, subprotocol, stdin=stdin, stdout=stdout, stderr=stderr)
    await session.run()


class _Channels:
    """The server's side of the channel framing on one socket."""

    def __init__(self, socket: ExecSocket, *, stdout: bool, stderr: bool, tty: bool) -> None:
        self._socket = socket
        self._stdout = stdout
        self._stderr = stderr
        self._tty = tty
        # Two output pumps share the socket; frames must not interleave mid-send.
        self._send_lock = asyncio.Lock()

    async def receive(self) -> bytes | None:
        return await self._socket.receive_bytes()

    async def send(self, channel: int, payload: bytes) -> None:
        async with self._send_lock:
            await self._socket.send_bytes(bytes([channel]) + payload)

    async def announce_open(self) -> None:
        """What the API server sends first: an empty frame on the lowest writable channel."""
        channel = STDOUT_CHANNEL if self._stdout else STDERR_CHANNEL if self._stderr else ERROR_CHANNEL
        await self.send(channel, b"")

    async def send_notice(self, text: str) -> None:
        """A message from the runtime rather than the command, on stderr if there is one."""
        channel = STDERR_CHANNEL if self._stderr else STDOUT_CHANNEL if self._stdout else None
        if channel is not None:
            await self.send(channel, (text + ("\r\n" if self._tty else "\n")).encode())

    async def finish(self, status: dict[str, Any]) -> None:
        await self.send(ERROR_CHANNEL, orjson.dumps(status))
        await self._socket.close(1000)


class _Session:
    def __init__(
        self,
        channels: _Channels,
        process: SandboxProcess,
        subprotocol: str,
        *,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> None:
        self._channels = channels
        self._process = process
        self._subprotocol = subprotocol
        self._forward_stdin = stdin
        self._stdout = stdout
        self._stderr = stderr

    async def run(self) -> None:
        if not self._forward_stdin and not self._process.tty:
            # No stdin means end of input at once; but a terminal just stays silent,
            # as under a real runtime, rather than have ^D typed into it.
            await self._process.close_stdin()
        receiving = asyncio.create_task(self._receive_client_frames())
        forwarding = asyncio.create_task(self._forward_output_until_exit())
        try:
            await asyncio.wait({receiving, forwarding}, return_when=asyncio.FIRST_COMPLETED)
            if not forwarding.done():
                receiving.result()  # a transport error surfaces here
                return  # the client left: the finally clause kills the command
            exit_code = forwarding.result()
            if self._process.termination_reason is not None:
                await self._channels.send_notice(f"command killed: {self._process.termination_reason}")
            if exit_code == 0:
                status = _success_status()
            else:
                status = _exit_code_status(exit_code, self._process.argv, self._subprotocol)
            receiving.cancel()
            await self._channels.finish(status)
        finally:
            for task in (receiving, forwarding):
                task.cancel()
            await asyncio.gather(receiving, forwarding, return_exceptions=True)
            self._process.kill()
            await self._process.wait()

    async def _receive_client_frames(self) -> None:
        """Apply stdin, resize and close frames until the client closes the socket."""
        while (frame := await self._channels.receive()) is not None:
            if not frame:
                continue
            channel, payload = frame[0], frame[1:]
            if channel == STDIN_CHANNEL and self._forward_stdin:
                try:
                    await self._process.write_stdin(payload)
                except ConnectionError:
                    self._forward_stdin = False  # the command stopped reading: drop the rest
            elif channel == RESIZE_CHANNEL:
                size = _parse_terminal_size(payload)
                if size is not None:
                    self._process.resize(*size)
            elif self._is_stdin_close_signal(channel, payload) and self._forward_stdin:
                self._forward_stdin = False
                await self._process.close_stdin()

    def _is_stdin_close_signal(self, channel: int, payload: bytes) -> bool:
        # v4 has no close signal: there, channel 255 is just an unknown channel.
        supported = self._subprotocol == STREAM_PROTOCOL_V5
        return supported and channel == CLOSE_SIGNAL and payload == bytes([STDIN_CHANNEL])

    async def _forward_output_until_exit(self) -> int:
        await asyncio.gather(
            self._pump(self._process.read_stdout, STDOUT_CHANNEL if self._stdout else None),
            self._pump(self._process.read_stderr, STDERR_CHANNEL if self._stderr else None),
        )
        return await self._process.wait()

    async def _pump(self, read: Callable[[], Awaitable[bytes]], channel: int | None) -> None:
        """Forward one output stream; an unrequested stream is still drained and dropped."""
        held_back = b""
        while chunk := await read():
            if channel is None:
                continue
            # Whole UTF-8 characters per frame: kubernetes_asyncio decodes each frame
            # on its own and fails on a character split across two.
            payload, held_back = _split_incomplete_utf8_tail(held_back + chunk)
            if payload:
                await self._channels.send(channel, payload)
        if held_back and channel is not None:
            await self._channels.send(channel, held_back)


def _split_incomplete_utf8_tail(data: bytes) -> tuple[bytes, bytes]:
    """Split off a UTF-8 sequence cut short at the end of data (at most 3 bytes)."""
    for distance in range(1, min(4, len(data)) + 1):
        byte = data[-distance]
        if byte & 0b1100_0000 == 0b1000_0000:
            continue  # a continuation byte: the lead byte is further back
        if byte >= 0b1111_0000:
            length = 4
        elif byte >= 0b1110_0000:
            length = 3
        elif byte >= 0b1100_0000:
            length = 2
        else:
            length = 1
        if length > distance:
            return data[:-distance], data[-distance:]
        break
    return data, b""


def _parse_terminal_size(payload: bytes) -> tuple[int, int] | None:
    """(cols, rows) from a resize frame; Go decodes the field names case-insensitively."""
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(message, dict):
        return None
    fields = {str(key).lower(): value for key, value in message.items()}
    width, height = fields.get("width"), fields.get("height")
    if type(width) is not int or type(height) is not int:  # bool is an int subclass
        return None
    return width, height


def _success_status() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def _exit_code_status(exit_code: int, argv: Iterable[str], subprotocol: str) -> dict[str, Any]:
    """The Status for a non-zero exit, worded as the real server words it per protocol.

    v4 is answered by the container runtime's stream server (containerd's wording);
    v5 by the API server, which wraps the error the runtime reported over SPDY.
    """
    if subprotocol == STREAM_PROTOCOL_V5:
        cause = f"command terminated with exit code {exit_code}"
    else:
        cause = f"error executing command [{' '.join(argv)}], exit code {exit_code}"
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: {cause}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
    }


def _internal_error_status(detail: str) -> dict[str, Any]:
    """apierrors.NewInternalError, as sent when the runtime fails rather than the command."""
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {detail}",
        "reason": "InternalError",
        "details": {"causes": [{"message": detail}]},
        "code": 500,
    }
