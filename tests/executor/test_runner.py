"""run_process with real processes: exact environment, capped output, group kill on timeout and cancel."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
import uvloop

from pilothouse.executor import runner
from pilothouse.executor.runner import SpawnMode, run_process
from tests.executor.processes import cmdline, running_with, wait_dead

PYTHON = sys.executable
SETPRIV = shutil.which("setpriv")
MODES = {
    "setpriv": SpawnMode("setpriv", "test", SETPRIV),
    "preexec_fn": SpawnMode("preexec_fn", "test"),
}
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


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> SpawnMode:
    """Each way of tying a command to the executor's life, not only the one this machine picks."""
    chosen = MODES[request.param]
    if chosen.name == "setpriv" and SETPRIV is None:
        pytest.skip("setpriv (util-linux) is not installed")
    monkeypatch.setattr(runner, "_spawn_mode", chosen)
    return chosen


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
async def test_a_command_dies_with_a_killed_executor(mode: SpawnMode, loop: str) -> None:
    """SIGKILL gives the executor no chance to clean up: the kernel must end its commands."""
    marker = f"sleep {int(time.time() * 1000) % 100_000 + 1000}"
    executor_stand_in = (
        f"import asyncio, {loop}\n"
        "from pilothouse.executor import runner\n"
        f"runner._spawn_mode = runner.{mode!r}\n"
        f"{loop}.run(runner.run_process({marker.split()!r}, env={{'PATH': '/usr/bin:/bin'}},"
        " time_limit=60, max_output_bytes=100))\n"
    )
    parent = await asyncio.create_subprocess_exec(PYTHON, "-c", executor_stand_in)

    def started() -> list[int]:
        # Past setpriv: killed before its prctl the command would outlive the executor (the
        # residual risk that SpawnMode documents), which is not what this test is about.
        return [pid for pid in running_with(marker) if "setpriv" not in cmdline(pid)]

    deadline = time.monotonic() + 15
    while not started() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    children = started()
    assert children, "the command never started"
    parent.kill()
    await parent.wait()
    for pid in children:
        assert await wait_dead(pid), f"{marker} outlived its executor"


async def test_a_missing_program_is_file_not_found_in_every_mode(mode: SpawnMode) -> None:
    with pytest.raises(FileNotFoundError):
        await run_process(
            ["no-such-program"], env={"PATH": "/usr/bin:/bin"}, time_limit=5, max_output_bytes=10
        )
    with pytest.raises(FileNotFoundError):
        await run_process(["/nowhere/kubectl"], env={}, time_limit=5, max_output_bytes=10)


async def test_a_program_is_found_on_the_path_it_is_given(mode: SpawnMode, tmp_path: Path) -> None:
    program = tmp_path / "bin" / "hello"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\necho hello from $0\n")
    program.chmod(0o755)
    outcome = await run_process(
        ["hello"], env={"PATH": f"{program.parent}:/usr/bin:/bin"}, time_limit=10, max_output_bytes=100
    )
    assert outcome.stdout.data.decode() == f"hello from {program}\n"


async def test_output_and_exit_status_are_the_programs_own_in_every_mode(mode: SpawnMode) -> None:
    program = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    outcome = await run_process([PYTHON, "-c", program], env={}, time_limit=10, max_output_bytes=100)
    assert (outcome.exit_code, outcome.stdout.data, outcome.stderr.data) == (3, b"out\n", b"err\n")


def test_the_fallback_gives_up_when_its_parent_is_already_gone() -> None:
    """The preexec_fn checks its parent after arming the signal: a child whose parent died first
    (and so belongs to another process) must not run the command."""
    ran = subprocess.run(
        [PYTHON, "-c", "print('ran')"],
        capture_output=True,
        preexec_fn=partial(runner._die_with_parent, os.getpid() + 1_000_000),
        check=False,
    )
    assert (ran.returncode, ran.stdout) == (125, b"")


def test_setpriv_is_chosen_where_it_works() -> None:
    if SETPRIV is None:
        pytest.skip("setpriv (util-linux) is not installed")
    chosen = runner._choose_spawn_mode()
    assert (chosen.name, chosen.setpriv) == ("setpriv", SETPRIV)
    assert chosen.preexec_fn(os.getpid()) is None


def test_without_setpriv_the_fallback_is_chosen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    chosen = runner._choose_spawn_mode()
    assert chosen.name == "preexec_fn"
    assert "not found" in chosen.reason
    assert chosen.preexec_fn(os.getpid()) is not None


def test_a_setpriv_that_fails_its_trial_is_not_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """util-linux before 2.33 has setpriv without --pdeathsig: every command would fail."""
    old = tmp_path / "setpriv"
    old.write_text("#!/bin/sh\necho \"setpriv: unrecognized option '--pdeathsig'\" >&2\nexit 1\n")
    old.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    chosen = runner._choose_spawn_mode()
    assert chosen.name == "preexec_fn"
    assert "unrecognized option" in chosen.reason


def test_the_runner_under_uvloop() -> None:
    """The executor runs on uvloop: timeouts, group kills, cancellation and exit statuses hold
    there too, beside a subprocess started the asyncio way (libuv's SIGCHLD handling)."""

    async def checks() -> None:
        native = await asyncio.create_subprocess_exec("/bin/true")
        assert await native.wait() == 0
        outcome = await run_process(
            [PYTHON, "-c", SPAWNS_GRANDCHILD], env={}, time_limit=1.0, max_output_bytes=1000
        )
        assert outcome.timed_out
        assert await wait_dead(int(outcome.stdout.data.decode()))
        killed = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
        programs = [f"import sys; sys.exit({code})" for code in range(5)] + [killed]
        outcomes = await asyncio.gather(
            *(run_process([PYTHON, "-c", p], env={}, time_limit=10, max_output_bytes=10) for p in programs)
        )
        assert [outcome.exit_code for outcome in outcomes] == [0, 1, 2, 3, 4, -9]
        marker = f"pilothouse-uvloop-test-{time.monotonic_ns()}"
        sleeper = [PYTHON, "-c", f"import time; time.sleep(60)  # {marker}"]
        task = asyncio.create_task(run_process(sleeper, env={}, time_limit=60, max_output_bytes=10))
        while not running_with(marker):
            await asyncio.sleep(0.05)
        (pid,) = running_with(marker)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await wait_dead(pid)

    uvloop.run(checks())
