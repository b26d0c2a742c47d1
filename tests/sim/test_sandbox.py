"""Real commands in a real bubblewrap sandbox."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pilothouse.sim.sandbox import (
    CommandStartError,
    ContainerSandbox,
    SandboxLimits,
    SandboxProcess,
    SandboxUnavailable,
    bubblewrap_available,
    start_process,
)

requires_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed on this host"
)


@dataclass
class Finished:
    exit_code: int
    stdout: bytes
    stderr: bytes
    process: SandboxProcess


async def read_all(read: Callable[[], Awaitable[bytes]]) -> bytes:
    output = b""
    while chunk := await read():
        output += chunk
    return output


async def run(
    sandbox: ContainerSandbox,
    argv: list[str],
    *,
    stdin: bytes = b"",
    limits: SandboxLimits | None = None,
) -> Finished:
    process = await start_process(sandbox, argv, tty=False, limits=limits or SandboxLimits())
    if stdin:
        await process.write_stdin(stdin)
    await process.close_stdin()
    stdout, stderr = await asyncio.gather(read_all(process.read_stdout), read_all(process.read_stderr))
    return Finished(await process.wait(), stdout, stderr, process)


async def read_until(process: SandboxProcess, marker: bytes, seen: bytes = b"") -> bytes:
    while marker not in seen:
        chunk = await process.read_stdout()
        assert chunk, f"output ended before {marker!r}: {seen!r}"
        seen += chunk
    return seen


@pytest.fixture
def sandbox(tmp_path: Path) -> ContainerSandbox:
    return ContainerSandbox(root_dir=tmp_path / "web-0", hostname="web-0", env={"GREETING": "hello pod"})


@requires_bwrap
async def test_stdout_stderr_and_exit_code_are_separate(sandbox: ContainerSandbox) -> None:
    finished = await run(sandbox, ["sh", "-c", "echo out; echo err >&2; exit 3"])

    assert (finished.exit_code, finished.stdout, finished.stderr) == (3, b"out\n", b"err\n")


@requires_bwrap
async def test_stdin_is_piped_through(sandbox: ContainerSandbox) -> None:
    finished = await run(sandbox, ["cat"], stdin=b"line one\nline two\n")

    assert (finished.exit_code, finished.stdout) == (0, b"line one\nline two\n")


@requires_bwrap
async def test_only_the_pod_environment_is_visible(
    sandbox: ContainerSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PILOTHOUSE_HOST_SECRET", "do-not-leak")

    finished = await run(sandbox, ["env"])

    variables = dict(line.split("=", 1) for line in finished.stdout.decode().splitlines())
    assert variables == {
        "GREETING": "hello pod",
        "HOSTNAME": "web-0",
        "HOME": "/root",
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    }


@requires_bwrap
async def test_hostname_is_the_pod_name(sandbox: ContainerSandbox) -> None:
    finished = await run(sandbox, ["sh", "-c", "cat /proc/sys/kernel/hostname /etc/hostname"])

    assert finished.stdout == b"web-0\nweb-0\n"


@requires_bwrap
async def test_runs_as_root_without_capabilities(sandbox: ContainerSandbox) -> None:
    finished = await run(
        sandbox, ["sh", "-c", "id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status"]
    )

    assert finished.stdout.decode().split() == [
        "0",
        "CapEff:",
        "0000000000000000",
        "CapBnd:",
        "0000000000000000",
        "NoNewPrivs:",
        "1",
    ]


@requires_bwrap
async def test_no_network_but_loopback(sandbox: ContainerSandbox) -> None:
    connections: list[object] = []
    server = await asyncio.start_server(lambda r, w: connections.append(w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        interfaces = await run(sandbox, ["sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1"])
        connect = await run(sandbox, ["bash", "-c", f"echo hi > /dev/tcp/127.0.0.1/{port}"])
    finally:
        server.close()
        await server.wait_closed()

    assert interfaces.stdout.split() == [b"lo"]
    assert connect.exit_code != 0
    assert b"Connection refused" in connect.stderr
    assert connections == []


@requires_bwrap
async def test_private_files_persist_per_container_and_are_isolated(tmp_path: Path) -> None:
    first = ContainerSandbox(root_dir=tmp_path / "first", hostname="first")
    second = ContainerSandbox(root_dir=tmp_path / "second", hostname="second")

    await run(first, ["sh", "-c", "echo kept > /data/note; echo scratch > /tmp/t; mkdir -p /var/lib/x"])
    again = await run(first, ["sh", "-c", "cat /data/note /tmp/t; ls /var/lib"])
    elsewhere = await run(second, ["sh", "-c", "cat /data/note"])

    assert again.stdout == b"kept\nscratch\nx\n"
    assert (tmp_path / "first" / "data" / "note").read_text() == "kept\n"
    assert elsewhere.exit_code == 1
    assert b"No such file" in elsewhere.stderr


@requires_bwrap
async def test_root_is_read_only_outside_the_private_directories(sandbox: ContainerSandbox) -> None:
    script = """
    for path in /x /usr/x /etc/x /bin/x /run/x /tmp/x /root/x /home/x; do
      if touch "$path" 2>/dev/null; then echo "$path writable"; else echo "$path read-only"; fi
    done
    """
    finished = await run(sandbox, ["sh", "-c", script])

    assert finished.stdout.decode().splitlines() == [
        "/x read-only",
        "/usr/x read-only",
        "/etc/x read-only",
        "/bin/x read-only",
        "/run/x writable",
        "/tmp/x writable",
        "/root/x writable",
        "/home/x writable",
    ]


@requires_bwrap
async def test_host_files_outside_the_image_are_not_visible(sandbox: ContainerSandbox) -> None:
    host_only = Path(__file__).resolve()
    finished = await run(
        sandbox, ["sh", "-c", f"ls {host_only} /etc/shadow /work /home/* 2>&1; ls /etc/passwd"]
    )

    assert finished.stdout.count(b"No such file or directory") == 4
    assert finished.stdout.endswith(b"/etc/passwd\n")


@requires_bwrap
async def test_working_directory_is_created_and_used(tmp_path: Path) -> None:
    sandbox = ContainerSandbox(root_dir=tmp_path / "c", hostname="c", working_dir="/data/app/")

    finished = await run(sandbox, ["sh", "-c", "pwd; touch here"])

    assert finished.stdout == b"/data/app\n"
    assert (tmp_path / "c" / "data" / "app" / "here").exists()


@requires_bwrap
async def test_no_descriptor_of_the_server_leaks_in(sandbox: ContainerSandbox) -> None:
    inheritable = os.open("/dev/null", os.O_RDONLY)
    os.set_inheritable(inheritable, True)
    try:
        finished = await run(sandbox, ["ls", "/proc/self/fd"])
    finally:
        os.close(inheritable)

    assert finished.stdout.split() == [b"0", b"1", b"2", b"3"]  # 3: ls reading the directory


@requires_bwrap
async def test_cpu_limit_kills_a_busy_loop(sandbox: ContainerSandbox) -> None:
    started = time.monotonic()

    finished = await run(sandbox, ["sh", "-c", "while :; do :; done"], limits=SandboxLimits(cpu_seconds=1))

    assert finished.exit_code == 137  # SIGKILL from the kernel at the hard limit
    assert finished.process.termination_reason is None
    assert time.monotonic() - started < 10


@requires_bwrap
async def test_memory_limit_caps_the_address_space(sandbox: ContainerSandbox) -> None:
    # Builds a 64 MiB string by doubling: fine with the default limit, not with 32 MiB.
    grow = ["awk", 'BEGIN { s = "x"; for (i = 0; i < 26; i++) s = s s; print length(s) }']

    roomy = await run(sandbox, grow)
    cramped = await run(sandbox, grow, limits=SandboxLimits(memory_bytes=32 * 2**20))

    assert (roomy.exit_code, roomy.stdout) == (0, b"67108864\n")
    assert cramped.exit_code != 0
    assert cramped.stdout == b""


@requires_bwrap
async def test_wall_clock_limit_kills_the_command(sandbox: ContainerSandbox) -> None:
    started = time.monotonic()

    finished = await run(sandbox, ["sleep", "30"], limits=SandboxLimits(wall_seconds=0.5))

    assert finished.exit_code == 137
    assert finished.process.termination_reason == "wall-clock limit of 0.5s exceeded"
    assert time.monotonic() - started < 5


@requires_bwrap
async def test_output_is_capped(sandbox: ContainerSandbox) -> None:
    finished = await run(sandbox, ["yes"], limits=SandboxLimits(max_output_bytes=100_000))

    assert len(finished.stdout) == 100_000
    assert finished.exit_code == 137
    assert finished.process.termination_reason == "output limit of 100000 bytes exceeded"


def _processes_with_argument(argument: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if argument.encode() in cmdline.read_bytes().split(b"\0"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue  # exited while we looked
    return found


async def _remaining_processes_with_argument(argument: str) -> list[int]:
    """Processes still alive a while after a kill: the pid namespace dies asynchronously."""
    for _ in range(50):
        if not (remaining := _processes_with_argument(argument)):
            break
        await asyncio.sleep(0.02)
    return remaining


@requires_bwrap
async def test_kill_takes_down_everything_in_the_sandbox(sandbox: ContainerSandbox) -> None:
    marker = "987.654"
    # "started" only once the background sleep has replaced its forked shell.
    script = (
        f"sleep {marker} & until read -r n < /proc/$!/comm && [ $n = sleep ]; do :; done; echo started; wait"
    )
    process = await start_process(sandbox, ["sh", "-c", script], tty=False, limits=SandboxLimits())
    assert await process.read_stdout() == b"started\n"
    assert _processes_with_argument(marker)

    process.kill()

    assert await process.wait() == 137
    assert await _remaining_processes_with_argument(marker) == []


@requires_bwrap
async def test_kill_right_after_start_leaves_nothing_behind(sandbox: ContainerSandbox) -> None:
    # bwrap ties the sandbox's life to its own only once set up, which may be after
    # start_process returns; the kill must not depend on that.
    marker = "654.321"
    for _ in range(5):
        process = await start_process(sandbox, ["sleep", marker], tty=False, limits=SandboxLimits())
        process.kill()
        assert await asyncio.wait_for(process.wait(), timeout=5) == 137
    assert await _remaining_processes_with_argument(marker) == []


@requires_bwrap
async def test_tty_merges_output_and_follows_resizes(sandbox: ContainerSandbox) -> None:
    # `read` returns early when the WINCH trap interrupts it, hence the loop.
    script = """
    trap "stty size" WINCH
    [ -t 0 ] && echo terminal
    echo oops >&2
    stty size
    echo ready
    until read -r line; do :; done
    echo "got $line"
    """
    process = await start_process(
        sandbox, ["sh", "-c", script], tty=True, limits=SandboxLimits(wall_seconds=10)
    )

    seen = await read_until(process, b"ready")
    process.resize(cols=132, rows=43)  # delivered as SIGWINCH to the foreground job
    seen = await read_until(process, b"43 132", seen)
    await process.write_stdin(b"bye\n")
    seen += await read_all(process.read_stdout)

    assert seen.startswith(b"terminal\r\noops\r\n24 80\r\nready\r\n")
    assert seen.endswith(b"bye\r\ngot bye\r\n")  # the terminal echoes input
    assert await process.read_stderr() == b""
    assert await process.wait() == 0


@requires_bwrap
async def test_tty_interrupt_reaches_the_command(sandbox: ContainerSandbox) -> None:
    process = await start_process(sandbox, ["cat"], tty=True, limits=SandboxLimits(wall_seconds=10))
    await process.write_stdin(b"ping\n")
    await read_until(process, b"ping\r\nping\r\n")  # the echo, then cat's copy: cat is running

    await process.write_stdin(b"\x03")  # ^C, turned into SIGINT by the terminal

    await read_all(process.read_stdout)
    assert await process.wait() == 130
    assert process.termination_reason is None


@requires_bwrap
@pytest.mark.parametrize(
    ("argv", "detail", "exit_code"),
    [
        (["nosuch"], 'exec: "nosuch": executable file not found in $PATH', 127),
        (["/bin/nosuch"], 'exec: "/bin/nosuch": stat /bin/nosuch: no such file or directory', 127),
        (["/etc/passwd"], 'exec: "/etc/passwd": permission denied', 126),
    ],
)
async def test_command_that_cannot_start_is_reported(
    sandbox: ContainerSandbox, argv: list[str], detail: str, exit_code: int
) -> None:
    with pytest.raises(CommandStartError) as raised:
        await start_process(sandbox, argv, tty=False, limits=SandboxLimits())

    assert (raised.value.detail, raised.value.exit_code, raised.value.argv) == (
        detail,
        exit_code,
        tuple(argv),
    )
    assert str(raised.value) == (
        f"OCI runtime exec failed: exec failed: unable to start container process: {detail}: unknown"
    )


@pytest.fixture
def forget_bwrap_probe() -> Iterator[None]:
    bubblewrap_available.cache_clear()
    yield
    bubblewrap_available.cache_clear()


@pytest.mark.usefixtures("forget_bwrap_probe")
async def test_exec_is_refused_without_bubblewrap(
    sandbox: ContainerSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing named bwrap in here

    assert bubblewrap_available() == "bubblewrap (bwrap) is not installed or not on PATH"
    with pytest.raises(SandboxUnavailable, match="not installed"):
        await start_process(sandbox, ["true"], tty=False, limits=SandboxLimits())
    assert not sandbox.root_dir.exists()  # refused before touching anything


@pytest.mark.usefixtures("forget_bwrap_probe")
async def test_exec_is_refused_when_bubblewrap_fails_its_self_check(
    sandbox: ContainerSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "bin" / "bwrap"
    broken.parent.mkdir()
    broken.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", str(broken.parent))

    assert (
        bubblewrap_available()
        == "bubblewrap self-check failed: bwrap: No permissions to create new namespace"
    )
    with pytest.raises(SandboxUnavailable, match="self-check failed"):
        await start_process(sandbox, ["true"], tty=False, limits=SandboxLimits())


@pytest.mark.parametrize(
    "arguments",
    [
        {"hostname": ""},
        {"hostname": "x" * 65},
        {"env": {"A=B": "1"}},
        {"env": {"A": "nul\0"}},
        {"working_dir": "relative/path"},
    ],
)
def test_invalid_sandbox_settings_are_rejected(tmp_path: Path, arguments: dict[str, object]) -> None:
    settings: dict[str, object] = {"root_dir": tmp_path, "hostname": "ok", **arguments}
    with pytest.raises(ValueError, match=r"hostname|environment|working_dir"):
        ContainerSandbox(**settings)  # type: ignore[arg-type]


@requires_bwrap
def test_works_on_uvloop_as_under_uvicorn(sandbox: ContainerSandbox) -> None:
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> tuple[Finished, bytes]:
        piped = await run(sandbox, ["sh", "-c", "cat; ls /proc/self/fd"], stdin=b"in\n")
        process = await start_process(sandbox, ["echo", "on a tty"], tty=True, limits=SandboxLimits())
        on_tty = await read_all(process.read_stdout)
        await process.wait()
        return piped, on_tty

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        piped, on_tty = runner.run(scenario())

    assert piped.stdout == b"in\n0\n1\n2\n3\n"  # and no leaked descriptor
    assert on_tty == b"on a tty\r\n"
