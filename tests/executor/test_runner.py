"""run_process with real processes: exact environment, capped output, group kill on timeout and cancel."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time

import pytest

from pilothouse.executor.runner import run_process
from tests.executor.processes import running_with, wait_dead

PYTHON = sys.executable
# A program that starts a grandchild in its own (inherited) process group, reports its pid, and
# waits: killing only the direct child would leave the grandchild running.
SPAWNS_GRANDCHILD = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen(['sleep', '60'])\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(60)\n"
)


async def test_the_environment_is_exactly_the_one_given() -> None:
    env_program = shutil.which("env")
    assert env_program is not None
    outcome = await run_process(
        [env_program], env={"PATH": "/usr/bin:/bin", "ONLY": "this"}, time_limit=10, max_output_bytes=10_000
    )
    assert outcome.exit_code == 0
    assert sorted(outcome.stdout.data.decode().splitlines()) == ["ONLY=this", "PATH=/usr/bin:/bin"]


async def test_arguments_reach_the_program_verbatim_without_a_shell() -> None:
    tricky = ["a b", "$(id)", "x|y", "*", "'quoted'"]
    outcome = await run_process(
        [PYTHON, "-c", "import sys, json; print(json.dumps(sys.argv[1:]))", *tricky],
        env={},
        time_limit=10,
        max_output_bytes=10_000,
    )
    assert outcome.stdout.data.decode().strip() == '["a b", "$(id)", "x|y", "*", "\'quoted\'"]'


async def test_output_beyond_the_cap_is_counted_and_discarded_and_the_exit_code_kept() -> None:
    program = "import sys; sys.stdout.write('x' * 300000); sys.stderr.write('e' * 50); sys.exit(4)"
    outcome = await run_process([PYTHON, "-c", program], env={}, time_limit=10, max_output_bytes=1000)
    assert outcome.exit_code == 4
    assert not outcome.timed_out
    assert outcome.stdout.data == b"x" * 1000
    assert outcome.stdout.total_bytes == 300000
    assert outcome.stdout.truncated
    assert outcome.stderr.data == b"e" * 50
    assert not outcome.stderr.truncated


async def test_timeout_kills_the_whole_process_group_and_keeps_earlier_output() -> None:
    started = time.monotonic()
    outcome = await run_process(
        [PYTHON, "-c", SPAWNS_GRANDCHILD], env={}, time_limit=1.0, max_output_bytes=1000
    )
    assert time.monotonic() - started < 3.5
    assert outcome.timed_out
    assert outcome.exit_code is None
    grandchild = int(outcome.stdout.data.decode())
    assert await wait_dead(grandchild), "the grandchild survived the timeout"


async def test_cancelling_the_caller_kills_the_process_group() -> None:
    marker = f"pilothouse-runner-test-{time.monotonic_ns()}"
    program = f"import time; time.sleep(60)  # {marker}"
    task = asyncio.create_task(
        run_process([PYTHON, "-c", program], env={}, time_limit=60, max_output_bytes=100)
    )
    pid = None
    for _ in range(100):
        await asyncio.sleep(0.05)
        pid = next(iter(running_with(marker)), None)
        if pid is not None:
            break
    assert pid is not None, "the program never started"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_dead(pid)


async def test_a_process_killed_by_a_signal_reports_it() -> None:
    program = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    outcome = await run_process([PYTHON, "-c", program], env={}, time_limit=10, max_output_bytes=100)
    assert outcome.exit_code == -9
    assert not outcome.timed_out


async def test_a_command_dies_with_a_killed_executor() -> None:
    """SIGKILL gives the executor no chance to clean up: the kernel must end its commands."""
    marker = f"sleep {int(time.time() * 1000) % 100_000 + 1000}"
    executor_stand_in = (
        "import asyncio\n"
        "from pilothouse.executor.runner import run_process\n"
        f"asyncio.run(run_process({marker.split()!r}, env={{'PATH': '/usr/bin:/bin'}}, time_limit=60,"
        " max_output_bytes=100))\n"
    )
    parent = await asyncio.create_subprocess_exec(PYTHON, "-c", executor_stand_in)
    deadline = time.monotonic() + 15
    while not running_with(marker) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    children = running_with(marker)
    assert children, "the command never started"
    parent.kill()
    await parent.wait()
    for pid in children:
        assert await wait_dead(pid), f"{marker} outlived its executor"
