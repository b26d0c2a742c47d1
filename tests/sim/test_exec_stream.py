"""The exec stream protocol, driven through an in-memory socket against real sandboxed commands."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from kubernetes_asyncio.stream.ws_client import WsApiClient

from pilothouse.sim.exec_stream import (
    EXEC_SUBPROTOCOLS,
    run_exec_session,
    select_exec_subprotocol,
)
from pilothouse.sim.sandbox import (
    ContainerSandbox,
    SandboxLimits,
    SandboxProcess,
    SandboxUnavailable,
    start_process,
)

V5, V4 = EXEC_SUBPROTOCOLS
requires_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed on this host"
)


class FakeExecSocket:
    """Both ends of a WebSocket in memory: the test plays the client."""

    def __init__(self) -> None:
        self._to_server: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._to_client: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.close_code: int | None = None

    # The server's side (ExecSocket).
    async def receive_bytes(self) -> bytes | None:
        return await self._to_server.get()

    async def send_bytes(self, data: bytes) -> None:
        assert self.close_code is None, "sent after close"
        await self._to_client.put(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.close_code = code
        await self._to_client.put(None)

    # The client's side.
    def client_sends(self, *frames: bytes) -> None:
        for frame in frames:
            self._to_server.put_nowait(frame)

    def client_disconnects(self) -> None:
        self._to_server.put_nowait(None)

    async def client_receives(self) -> bytes | None:
        return await asyncio.wait_for(self._to_client.get(), timeout=10)


@dataclass
class Transcript:
    """Everything the client saw, in order."""

    frames: list[bytes] = field(default_factory=list)
    closed: bool = False

    def data(self, channel: int) -> bytes:
        return b"".join(frame[1:] for frame in self.frames if frame[0] == channel)

    @property
    def status(self) -> bytes:
        assert self.frames[-1][0] == 3, "the status must be the last frame"
        return self.frames[-1][1:]


async def read_until_closed(socket: FakeExecSocket, transcript: Transcript) -> Transcript:
    while (frame := await socket.client_receives()) is not None:
        transcript.frames.append(frame)
    transcript.closed = True
    return transcript


def starter(
    sandbox: ContainerSandbox, argv: list[str], *, tty: bool
) -> Callable[[], Awaitable[SandboxProcess]]:
    async def start() -> SandboxProcess:
        return await start_process(sandbox, argv, tty=tty, limits=SandboxLimits(wall_seconds=10))

    return start


@dataclass
class Exec:
    """One exec session running in the background, as a client would see it."""

    socket: FakeExecSocket
    session: asyncio.Task[None]

    async def finish(self) -> Transcript:
        transcript = await read_until_closed(self.socket, Transcript())
        await asyncio.wait_for(self.session, timeout=10)
        assert self.socket.close_code == 1000
        return transcript


def begin_exec(
    sandbox: ContainerSandbox,
    argv: list[str],
    *,
    subprotocol: str = V5,
    stdin: bool = False,
    stdout: bool = True,
    stderr: bool = True,
    tty: bool = False,
    start: Callable[[], Awaitable[SandboxProcess]] | None = None,
) -> Exec:
    socket = FakeExecSocket()
    session = run_exec_session(
        socket,
        subprotocol,
        start or starter(sandbox, argv, tty=tty),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        tty=tty,
    )
    return Exec(socket, asyncio.create_task(session))


@pytest.fixture
def sandbox(tmp_path: Path) -> ContainerSandbox:
    return ContainerSandbox(root_dir=tmp_path / "api-0", hostname="api-0")


@requires_bwrap
async def test_success_streams_output_then_status_then_close(sandbox: ContainerSandbox) -> None:
    transcript = await begin_exec(sandbox, ["sh", "-c", "echo out; echo err >&2"]).finish()

    assert transcript.frames[0] == b"\x01"  # streams are open: empty frame on stdout
    assert transcript.data(1) == b"out\n"
    assert transcript.data(2) == b"err\n"
    assert transcript.status == b'{"metadata":{},"status":"Success"}'
    assert WsApiClient.parse_error_data(transcript.status) == 0


@requires_bwrap
@pytest.mark.parametrize(
    ("subprotocol", "message"),
    [
        (
            V4,
            "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3",
        ),
        (V5, "command terminated with non-zero exit code: command terminated with exit code 3"),
    ],
)
async def test_non_zero_exit_is_reported_in_the_status(
    sandbox: ContainerSandbox, subprotocol: str, message: str
) -> None:
    transcript = await begin_exec(sandbox, ["sh", "-c", "exit 3"], subprotocol=subprotocol).finish()

    assert orjson.loads(transcript.status) == {
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
    }
    assert WsApiClient.parse_error_data(transcript.status) == 3


@requires_bwrap
async def test_v5_stdin_is_forwarded_and_closed_by_the_close_signal(sandbox: ContainerSandbox) -> None:
    running = begin_exec(sandbox, ["cat"], stdin=True)
    running.socket.client_sends(b"\x00hello ", b"\x00world\n", b"\xff\x00")

    transcript = await running.finish()

    assert transcript.data(1) == b"hello world\n"
    assert transcript.status == b'{"metadata":{},"status":"Success"}'


@requires_bwrap
@pytest.mark.parametrize(("subprotocol", "expected_output"), [(V4, b"after\n"), (V5, b"")])
async def test_close_signal_exists_only_in_v5(
    sandbox: ContainerSandbox, subprotocol: str, expected_output: bytes
) -> None:
    # `head -n 1` ends after one line or at end of input: v4 ignores the close signal
    # and passes the line on, v5 ends stdin before it arrives.
    running = begin_exec(sandbox, ["head", "-n", "1"], subprotocol=subprotocol, stdin=True)
    running.socket.client_sends(b"\xff\x00", b"\x00after\n")

    transcript = await running.finish()

    assert transcript.data(1) == expected_output


@requires_bwrap
async def test_tty_resizes_and_drops_stderr(sandbox: ContainerSandbox) -> None:
    running = begin_exec(sandbox, ["sh", "-c", "read -r x; stty size; echo err >&2"], stdin=True, tty=True)
    running.socket.client_sends(b'\x04{"Width":100,"Height":40}', b"\x00\n", b"\xff\x00")

    transcript = await running.finish()

    assert transcript.frames[0] == b"\x01"
    assert transcript.data(1) == b"\r\n40 100\r\nerr\r\n"
    assert [frame for frame in transcript.frames if frame[0] == 2] == []
    assert WsApiClient.parse_error_data(transcript.status) == 0


@requires_bwrap
@pytest.mark.parametrize(("tty", "cat_status"), [(False, b"0"), (True, b"124")])
async def test_without_stdin_input_ends_at_once_but_a_terminal_stays_open(
    sandbox: ContainerSandbox, tty: bool, cat_status: bytes
) -> None:
    # 124: timeout had to stop cat, which never saw the end of its input.
    script = ["sh", "-c", "timeout --foreground 0.3 cat; echo $?"]

    transcript = await begin_exec(sandbox, script, stdin=False, tty=tty).finish()

    assert transcript.data(1).split() == [cat_status]


@requires_bwrap
async def test_unrequested_output_is_dropped_and_open_frame_uses_lowest_stream(
    sandbox: ContainerSandbox,
) -> None:
    only_stderr = await begin_exec(sandbox, ["sh", "-c", "echo out; echo err >&2"], stdout=False).finish()
    no_output = await begin_exec(sandbox, ["sh", "-c", "echo out"], stdout=False, stderr=False).finish()

    assert only_stderr.frames[0] == b"\x02"
    assert (only_stderr.data(1), only_stderr.data(2)) == (b"", b"err\n")
    assert no_output.frames == [b"\x03", b'\x03{"metadata":{},"status":"Success"}']


@requires_bwrap
async def test_command_not_found_is_reported_like_the_runtime(sandbox: ContainerSandbox) -> None:
    transcript = await begin_exec(sandbox, ["nosuch", "--flag"]).finish()

    assert transcript.data(2) == (
        b"OCI runtime exec failed: exec failed: unable to start container process: "
        b'exec: "nosuch": executable file not found in $PATH: unknown\n'
    )
    status = orjson.loads(transcript.status)
    assert (status["status"], status["reason"]) == ("Failure", "NonZeroExitCode")
    assert WsApiClient.parse_error_data(transcript.status) == 127


async def test_sandbox_failure_is_an_internal_error(sandbox: ContainerSandbox) -> None:
    async def refuse() -> SandboxProcess:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed or not on PATH")

    transcript = await begin_exec(sandbox, ["true"], start=refuse).finish()

    detail = "error executing command in container: bubblewrap (bwrap) is not installed or not on PATH"
    assert orjson.loads(transcript.status) == {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {detail}",
        "reason": "InternalError",
        "details": {"causes": [{"message": detail}]},
        "code": 500,
    }


@requires_bwrap
async def test_client_disconnect_kills_the_command(sandbox: ContainerSandbox) -> None:
    started: list[SandboxProcess] = []

    async def start() -> SandboxProcess:
        started.append(await starter(sandbox, ["sleep", "30"], tty=False)())
        return started[0]

    running = begin_exec(sandbox, ["sleep", "30"], start=start)
    assert await running.socket.client_receives() == b"\x01"
    while not started:
        await asyncio.sleep(0.01)

    running.socket.client_disconnects()

    await asyncio.wait_for(running.session, timeout=5)
    assert await started[0].wait() == 137
    assert started[0].termination_reason is None  # not the wall-clock limit
    assert running.socket.close_code is None  # nobody left to send a status to


@requires_bwrap
async def test_limit_kills_are_explained_before_the_status(sandbox: ContainerSandbox) -> None:
    async def start() -> SandboxProcess:
        return await start_process(
            sandbox, ["sleep", "30"], tty=False, limits=SandboxLimits(wall_seconds=0.3)
        )

    transcript = await begin_exec(sandbox, ["sleep", "30"], start=start).finish()

    assert transcript.data(2) == b"command killed: wall-clock limit of 0.3s exceeded\n"
    assert WsApiClient.parse_error_data(transcript.status) == 137


@requires_bwrap
async def test_frames_never_split_a_utf8_character(sandbox: ContainerSandbox) -> None:
    # 3-byte characters: chunk boundaries at powers of two fall inside them.
    euros = ["awk", 'BEGIN { for (i = 0; i < 30000; i++) printf "€" }']

    transcript = await begin_exec(sandbox, euros).finish()

    payloads = [frame[1:] for frame in transcript.frames if frame[0] == 1]
    assert b"".join(payloads) == "€".encode() * 30000
    assert len(payloads) > 2
    for payload in payloads:
        payload.decode()  # kubernetes_asyncio decodes every frame on its own


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["v4.channel.k8s.io", "v5.channel.k8s.io"], "v5.channel.k8s.io"),
        (["channel.k8s.io", "v4.channel.k8s.io"], "v4.channel.k8s.io"),
        (["v4.base64.channel.k8s.io", "channel.k8s.io"], None),
        ([], None),
    ],
)
def test_subprotocol_selection_prefers_v5(offered: list[str], chosen: str | None) -> None:
    assert select_exec_subprotocol(offered) == chosen


async def test_unknown_subprotocol_is_refused(sandbox: ContainerSandbox) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        await run_exec_session(
            FakeExecSocket(),
            "channel.k8s.io",
            starter(sandbox, ["true"], tty=False),
            stdin=False,
            stdout=True,
            stderr=True,
            tty=False,
        )
