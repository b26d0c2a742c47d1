"""Running one program: no shell, its own process group, a hard timeout, output captured up to a cap.

This module knows about processes and nothing about kubectl or the protocol.

Every command pays for its spawn, so the spawn is kept to a ``vfork()``: the process is started
with ``subprocess.Popen`` and watched from the event loop (a pidfd for its exit, the pipes read
directly), not with ``asyncio.create_subprocess_exec``. Under uvloop that one goes through libuv,
which ``fork()``s the whole executor (~6 ms per spawn at 100 MB); under asyncio on Python 3.11 it
also starts a thread per process to wait for it.

A command must not outlive a killed executor (SIGKILL, OOM), so the kernel is asked to kill it
when its parent dies (PR_SET_PDEATHSIG). Setting that in a ``preexec_fn`` would force CPython to
``fork()`` (8-20 ms instead of ~1), so where possible the program is started through ``setpriv
--pdeathsig KILL`` (util-linux), which sets it and then execs: the setting survives ``execve`` of
a program that is not setuid. See :func:`spawn_mode`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import IO, Any

_CHUNK_BYTES = 64 * 1024
# After the kill, how long to wait for the pipes to close. Only a process that left the group
# (setsid) can hold them open longer; its output is then abandoned rather than waited for.
_PIPE_GRACE_SECONDS = 2.0
_LINUX = sys.platform.startswith("linux")


@dataclass(frozen=True)
class CapturedOutput:
    data: bytes  # at most the cap
    total_bytes: int  # everything the process wrote, kept or not

    @property
    def truncated(self) -> bool:
        return self.total_bytes > len(self.data)


@dataclass(frozen=True)
class ProcessOutcome:
    exit_code: int | None  # None when killed for the timeout; negative: killed by that signal
    stdout: CapturedOutput
    stderr: CapturedOutput
    timed_out: bool
    duration_seconds: float


@dataclass(frozen=True)
class SpawnMode:
    """How a program is tied to the executor's life.

    ``setpriv``: through ``setpriv --pdeathsig KILL`` (vfork).
    ``preexec_fn``: prctl in a ``preexec_fn`` (fork of the whole executor); when setpriv is missing.
    ``unguarded``: elsewhere than Linux, which has no death signal.

    The kernel sends the signal when the *thread* that spawned the process ends, not the process:
    commands are spawned from the event loop's thread, which lives as long as the executor.

    The residual risk of the setpriv mode: an executor killed between the vfork and setpriv's
    prctl (a window of about 1 ms per spawn, while setpriv is loaded) leaves the child to init
    before its death signal is armed, and setpriv cannot check its parent afterwards as the
    ``preexec_fn`` does. That command then runs on alone, but not for ever: (a) when the executor
    is PID 1 of its container (the image's entrypoint, no init), the kernel kills every process of
    the PID namespace with it; (b) the reading ends of its pipes died with the executor, so kubectl is
    killed by SIGPIPE at its next line of output (a `logs -f` or `get -w` included); (c) anything
    else ends when its request does. A shell that compared $PPID before exec'ing would close the
    window but costs ~0.5 ms and adds variables (PWD, SHLVL, _) to the exact environment.
    """

    name: str
    reason: str
    setpriv: str | None = None

    def argv(self, program: Sequence[str]) -> list[str]:
        if self.setpriv is None:
            return list(program)
        return [self.setpriv, "--pdeathsig", "KILL", "--", *program]

    def preexec_fn(self, parent_pid: int) -> Callable[[], None] | None:
        return partial(_die_with_parent, parent_pid) if self.name == "preexec_fn" else None


_spawn_mode: SpawnMode | None = None


def spawn_mode() -> SpawnMode:
    """The mode this process uses, chosen on first use (the CLI logs it at startup).

    setpriv is tried once, running itself: an old util-linux without ``--pdeathsig`` (before 2.33)
    or a sandbox that refuses the prctl shows there, rather than as every command failing.
    """
    global _spawn_mode
    if _spawn_mode is None:
        _spawn_mode = _choose_spawn_mode()
    return _spawn_mode


def _choose_spawn_mode() -> SpawnMode:
    if not _LINUX:
        return SpawnMode("unguarded", f"{sys.platform} has no parent-death signal")
    fallback = "preexec_fn"
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return SpawnMode(fallback, "setpriv (util-linux) not found on PATH")
    mode = SpawnMode("setpriv", f"{setpriv} --pdeathsig KILL", setpriv)
    try:
        probe = subprocess.run(
            mode.argv([setpriv, "--version"]),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return SpawnMode(fallback, f"{setpriv} failed: {error}")
    if probe.returncode != 0:
        said = probe.stderr.decode(errors="replace").strip()[:200]
        return SpawnMode(fallback, f"{setpriv} failed (exit {probe.returncode}): {said}")
    return mode


async def run_process(
    argv: Sequence[str], *, env: Mapping[str, str], time_limit: float, max_output_bytes: int
) -> ProcessOutcome:
    """Run ``argv`` with exactly ``env``; kill its whole process group after ``time_limit`` seconds.

    Output beyond ``max_output_bytes`` per stream is read and discarded rather than left in the
    pipe, so the process is never blocked by a full pipe and its real exit status is reported.
    If the caller is cancelled the process group is killed too: nothing outlives its command.
    FileNotFoundError if ``argv[0]`` is not found (on ``env``'s PATH when it has no slash).
    """
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    process = _spawn(argv, env)
    assert process.stdout is not None
    assert process.stderr is not None
    exited = _exit_of(loop, process)
    stdout = _Capture(loop, process.stdout, max_output_bytes)
    stderr = _Capture(loop, process.stderr, max_output_bytes)
    timed_out = False
    try:
        # The futures are not cancelled by asyncio.wait at the deadline: what the process wrote
        # just before the kill is still read from the pipes.
        waiting: set[asyncio.Future[Any]] = {exited, stdout.closed, stderr.closed}
        _, pending = await asyncio.wait(waiting, timeout=time_limit)
        if pending:  # still running, or exited while a child it left behind holds the pipes
            timed_out = True
            _kill_group(process.pid)
            await asyncio.wait(pending, timeout=_PIPE_GRACE_SECONDS)
    finally:
        if process.returncode is None:  # cancelled, or the kill grace expired
            _kill_group(process.pid)  # the exit watch stays and reaps it
        stdout.close()
        stderr.close()
    return ProcessOutcome(
        exit_code=None if timed_out else process.returncode,
        stdout=stdout.result(),
        stderr=stderr.result(),
        timed_out=timed_out,
        duration_seconds=time.monotonic() - started,
    )


def _spawn(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    mode = spawn_mode()
    # Found here, as Popen would find it, so a missing program is the same FileNotFoundError in
    # every mode rather than a wrapper's exit status 127.
    program = shutil.which(argv[0], path=os.pathsep.join(os.get_exec_path(dict(env))))
    if program is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), argv[0])
    return subprocess.Popen(
        mode.argv([program, *argv[1:]]),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        bufsize=0,
        # A new session makes the process a group leader, so its children can be killed with it.
        start_new_session=True,
        # Only in the fallback mode: if the executor is killed its commands must not run on alone.
        preexec_fn=mode.preexec_fn(os.getpid()),
    )


def _exit_of(loop: asyncio.AbstractEventLoop, process: subprocess.Popen[bytes]) -> asyncio.Future[int]:
    """A future for the exit status. The watch outlives a cancelled caller, so a killed process is
    still reaped rather than left a zombie."""
    try:
        pidfd = os.pidfd_open(process.pid)  # readable once the process has exited (Linux 5.3)
    except (AttributeError, OSError):
        return asyncio.ensure_future(loop.run_in_executor(None, process.wait))
    exited: asyncio.Future[int] = loop.create_future()

    def reap() -> None:
        code = process.poll()
        if code is None:
            return
        loop.remove_reader(pidfd)
        os.close(pidfd)
        if not exited.done():
            exited.set_result(code)

    loop.add_reader(pidfd, reap)
    return exited


class _Capture:
    """Reads one pipe from the event loop: keeps the first ``limit`` bytes and counts the rest."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pipe: IO[bytes], limit: int) -> None:
        self._loop = loop
        self._pipe = pipe
        self._fd = pipe.fileno()
        self._limit = limit
        self._chunks: list[bytes] = []
        self._kept = 0
        self._total = 0
        self.closed: asyncio.Future[None] = loop.create_future()
        os.set_blocking(self._fd, False)
        loop.add_reader(self._fd, self._read)

    def _read(self) -> None:
        try:
            chunk = os.read(self._fd, _CHUNK_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.close()
            return
        self._total += len(chunk)
        room = self._limit - self._kept
        if room > 0:
            self._chunks.append(chunk[:room])
            self._kept += min(room, len(chunk))

    def close(self) -> None:
        if self._pipe.closed:
            return
        self._loop.remove_reader(self._fd)
        self._pipe.close()
        if not self.closed.done():
            self.closed.set_result(None)

    def result(self) -> CapturedOutput:
        return CapturedOutput(b"".join(self._chunks), self._total)


def _kill_group(pid: int) -> None:
    # The group id is the leader's pid (start_new_session). While any member lives the id cannot
    # be reused, so this never hits an unrelated group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if _LINUX else None


def _die_with_parent(parent_pid: int) -> None:
    """Runs in the child between fork and exec: ask the kernel for SIGKILL when the parent dies,
    then exit if the parent already has (the check setpriv cannot make).

    Only the fallback mode uses it: besides forcing fork(), CPython documents `preexec_fn` as
    unsafe with threads (a lock another thread held at the fork, malloc's in a DNS lookup of the
    loop's thread pool say, stays held in the child).
    """
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:
            os._exit(125)
