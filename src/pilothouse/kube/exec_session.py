"""An exec stream on the Kubernetes channel protocol (v5/v4.channel.k8s.io) from the client side.

Every binary message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 the final
``Status`` (exit code), 4 resize, 255 close (v5: ``[255, 0]`` ends stdin).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import orjson

from pilothouse.kube.ops import ExecExit, ExecOutput

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
V5 = "v5.channel.k8s.io"


def exit_from_status(raw: bytes) -> ExecExit:
    """The exit a final ``Status`` describes: Success is 0, NonZeroExitCode carries the code."""
    try:
        status = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ExecExit(exit_code=None, error=raw.decode("utf-8", "replace"))
    if not isinstance(status, dict):
        return ExecExit(exit_code=None, error="malformed exec status")
    if status.get("status") == "Success":
        return ExecExit(exit_code=0)
    details = status.get("details") if isinstance(status.get("details"), dict) else {}
    for cause in (details or {}).get("causes") or []:
        if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
            try:
                return ExecExit(exit_code=int(cause.get("message", "")))
            except ValueError:
                break
    return ExecExit(exit_code=None, error=str(status.get("message") or "exec failed"), details=status)


class ChannelExecSession:
    def __init__(self, socket: aiohttp.ClientWebSocketResponse, *, tty: bool) -> None:
        self._socket = socket
        self._tty = tty
        self._exit: ExecExit | None = None

    @property
    def _v5(self) -> bool:
        return self._socket.protocol == V5

    async def output(self) -> AsyncIterator[ExecOutput]:
        async for message in self._socket:
            if message.type != aiohttp.WSMsgType.BINARY or not message.data:
                if message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                    break
                continue
            channel, payload = message.data[0], bytes(message.data[1:])
            if channel == STDOUT and payload:
                yield ExecOutput("stdout", payload)
            elif channel == STDERR and payload:
                yield ExecOutput("stderr", payload)
            elif channel == ERROR:
                self._exit = exit_from_status(payload)
        if self._exit is None:
            self._exit = ExecExit(exit_code=None, error="the exec stream closed without an exit status")

    async def write_stdin(self, data: bytes) -> None:
        if not self._socket.closed:
            await self._socket.send_bytes(bytes([STDIN]) + data)

    async def close_stdin(self) -> None:
        # v4 has no way to end stdin but closing the stream; callers then read what remains.
        if self._v5 and not self._socket.closed:
            await self._socket.send_bytes(bytes([CLOSE, STDIN]))

    async def resize(self, rows: int, cols: int) -> None:
        if not self._socket.closed:
            await self._socket.send_bytes(bytes([RESIZE]) + orjson.dumps({"Width": cols, "Height": rows}))

    async def wait(self) -> ExecExit:
        if self._exit is None:
            async for _ in self.output():
                pass
        assert self._exit is not None
        return self._exit

    async def close(self) -> None:
        await self._socket.close()
