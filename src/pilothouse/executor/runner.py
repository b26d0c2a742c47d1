"""Running one program: no shell, its own process group, a hard timeout, output captured up to a cap.

This module knows about processes and nothing about kubectl or the protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_CHUNK_BYTES = 64 * 1024
# After the kill, how long to wait for the pipes to close. Only a process that left the group
# (setsid) can hold them open longer; its output is then abandoned rather than waited for.
_PIPE_GRACE_SECONDS = 2.0


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


async def run_process(
    argv: Sequence[str], *, env: Mapping[str, str], time_limit: float, max_output_bytes: int
) -> ProcessOutcome:
    """Run ``argv`` with exactly ``env``; kill its whole process group after ``time_limit`` seconds.

    Output beyond ``max_output_bytes`` per stream is read and discarded rather than left in the
    pipe, so the process is never blocked by a full pipe and its real exit status is reported.
    If the caller is cancelled the process group is killed too: nothing outlives its command.
    """
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
        # A new session makes the process a group leader, so its children can be killed with it.
        start_new_session=True,
        # If the executor itself is killed (SIGKILL, OOM), its commands must not run on alone.
        preexec_fn=_die_with_parent,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    stdout, stderr = _Capture(max_output_bytes), _Capture(max_output_bytes)
    tasks = {
        asyncio.create_task(process.wait()),
        asyncio.create_task(stdout.drain(process.stdout)),
        asyncio.create_task(stderr.drain(process.stderr)),
    }
    timed_out = False
    try:
        # asyncio.wait, unlike wait_for/timeout around gather, does not cancel the readers at the
        # deadline: what the process wrote just before the kill is still read from the pipes.
        _, pending = await asyncio.wait(tasks, timeout=time_limit)
        if pending:  # still running, or exited while a child it left behind holds the pipes
            timed_out = True
            _kill_group(process.pid)
            await asyncio.wait(pending, timeout=_PIPE_GRACE_SECONDS)
    finally:
        if process.returncode is None:  # cancelled, or the kill grace expired
            _kill_group(process.pid)
        for task in tasks:
            task.cancel()
    return ProcessOutcome(
        exit_code=None if timed_out else process.returncode,
        stdout=stdout.result(),
        stderr=stderr.result(),
        timed_out=timed_out,
        duration_seconds=time.monotonic() - started,
    )


class _Capture:
    """Keeps the first ``limit`` bytes of a stream and counts the rest."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._chunks: list[bytes] = []
        self._kept = 0
        self._total = 0

    async def drain(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(_CHUNK_BYTES):
            self._total += len(chunk)
            room = self._limit - self._kept
            if room > 0:
                self._chunks.append(chunk[:room])
                self._kept += min(room, len(chunk))

    def result(self) -> CapturedOutput:
        return CapturedOutput(b"".join(self._chunks), self._total)


def _kill_group(pid: int) -> None:
    # The group id is the leader's pid (start_new_session). While any member lives the id cannot
    # be reused, so this never hits an unrelated group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: ask the kernel for SIGKILL when the parent dies.

    The executor has no threads of its own, so the fork-then-callback caveat of `preexec_fn`
    does not apply; elsewhere than Linux it does nothing.
    """
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
