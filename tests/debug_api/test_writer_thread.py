"""The command writer's thread (SQLite): a batch of at least ``THREAD_MIN_ROWS`` rows is written
from the writer's own thread, a smaller one on the event loop; a cancellation never lets a batch
that may still commit be written again, and a failed thread write keeps its batch for a retry."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from pilothouse.audit.models import AuditEvent
from pilothouse.commands.models import Command, CommandState
from pilothouse.commands.writer import THREAD_MIN_ROWS, BoundStatements, CommandWriter
from pilothouse.store.database import Database
from tests.debug_api import test_writer_checkpoint
from tests.debug_api.test_writer_checkpoint import command_state, rows
from tests.debug_api.test_writer_driver import audit_values, finish

# The checkpoint tests' fixtures: a migrated SQLite file database (its path, the app's
# ``Database`` on it) and a ``CommandWriter`` on it, closed after the test.
db_path = test_writer_checkpoint.db_path
database = test_writer_checkpoint.database
writer = test_writer_checkpoint.writer

# A frozen event loop or a write that never ends must fail the test, not hang the run.
pytestmark = pytest.mark.timeout(30)

WRITER_THREAD_PREFIX = "command-writer"


class WriteSpy:
    """Wraps the writer's SQLite write (called with the batch's bound statements, in whatever
    thread writes the batch): records the thread of each call, and runs ``before`` (in that
    thread) first, which may block or raise."""

    def __init__(self, writer: CommandWriter, before: Callable[[], None] | None = None) -> None:
        self.threads: list[threading.Thread] = []
        self.before = before
        self._real = writer._write_on_sqlite
        self.sabotage_next = False
        writer._write_on_sqlite = self._write  # type: ignore[method-assign]

    def _write(self, statements: BoundStatements) -> None:
        self.threads.append(threading.current_thread())
        if self.before is not None:
            self.before()
        if self.sabotage_next:
            # The batch's own statements run, then one fails: the transaction is rolled back.
            self.sabotage_next = False
            statements = [*statements, ("INSERT INTO no_such_table (x) VALUES (?)", [(1,)])]
        self._real(statements)


class Gate:
    """Holds a write in its thread until released, and tells the loop it has started."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> None:
        self.entered.set()
        if not self.release.wait(10):
            raise RuntimeError("gate never released")

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 10), "the write never started"


@dataclass
class HeldFlush:
    spy: WriteSpy
    states: list[CommandState]
    flushing: asyncio.Task[None]


@contextlib.asynccontextmanager
async def flush_held_in_the_thread(
    writer: CommandWriter, commands: int, audits: int, *, sabotage: bool = False
) -> AsyncIterator[HeldFlush]:
    """A batch staged and flushed, its write (failing, with ``sabotage``) held in the writer's
    thread until the block ends."""
    gate = Gate()
    spy = WriteSpy(writer, gate)
    spy.sabotage_next = sabotage
    states = stage_batch(writer, commands, audits)
    held = HeldFlush(spy, states, asyncio.create_task(writer.flush()))
    try:
        await gate.wait_entered()
        yield held
    finally:
        gate.release.set()


def started_task(writer: CommandWriter) -> asyncio.Task[None]:
    """The writer's background task, started."""
    writer.start()
    task = writer._task
    assert task is not None
    return task


def stage_batch(writer: CommandWriter, commands: int, audits: int, start: int = 0) -> list[CommandState]:
    """Stage ``commands`` new commands and ``audits`` audit events (of those commands, in turn)."""
    states = [command_state(start + index) for index in range(commands)]
    for state in states:
        writer.stage(state)
    for index in range(audits):
        writer.audit(audit_values(states[index % len(states)].id if states else f"cmd_audit_{index}"))
    return states


async def stored_commands(database: Database) -> dict[str, dict[str, Any]]:
    """Every stored command's column values, by id."""
    async with database.session() as session:
        return {
            row.id: CommandState.of(row).values() for row in (await session.scalars(select(Command))).all()
        }


def values_of(states: list[CommandState]) -> dict[str, dict[str, Any]]:
    """What ``stored_commands`` reads back once ``states`` are written (states compare by identity)."""
    return {state.id: state.values() for state in states}


async def stored_audit_events(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def assert_kept_for_a_retry(writer: CommandWriter, db_path: Path, states: list[CommandState]) -> None:
    """A failed batch: rolled back (nothing stored, nothing marked stored) and still staged."""
    assert rows(db_path) == 0
    assert not any(state.persisted for state in states)
    assert all(writer.is_staged(state.id) for state in states)


def write_failures(log_lines: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [line for line in log_lines() if line["event"] == "command_write_failed"]


def is_writer_thread(thread: threading.Thread) -> bool:
    return thread is not threading.current_thread() and thread.name.startswith(WRITER_THREAD_PREFIX)


async def test_a_big_batch_is_written_from_the_writer_thread_and_reads_back(
    writer: CommandWriter, database: Database
) -> None:
    spy = WriteSpy(writer)
    states = stage_batch(writer, THREAD_MIN_ROWS, 2)
    await writer.flush()
    assert len(spy.threads) == 1
    assert is_writer_thread(spy.threads[0]), spy.threads[0].name
    assert all(state.persisted for state in states)
    assert await stored_commands(database) == values_of(states)
    assert await stored_audit_events(database) == 2

    # Their results: a batch of UPDATEs, also from the thread.
    for state in states:
        finish(state)
        writer.stage(state)
    await writer.flush(*states)
    assert len(spy.threads) == 2
    assert spy.threads[1] is spy.threads[0]
    stored = await stored_commands(database)
    assert stored == values_of(states)
    assert {row["status"] for row in stored.values()} == {"success"}


@pytest.mark.parametrize(
    ("commands", "audits"),
    [
        (THREAD_MIN_ROWS - 1, 0),
        (1, THREAD_MIN_ROWS - 2),  # a lone command's row and its audit events, below the line
        (THREAD_MIN_ROWS, 0),
        (THREAD_MIN_ROWS - 2, 2),  # the rows of every statement count
        (1, THREAD_MIN_ROWS - 1),
    ],
)
async def test_rows_in_total_decide_between_loop_and_thread(
    writer: CommandWriter, database: Database, commands: int, audits: int
) -> None:
    spy = WriteSpy(writer)
    states = stage_batch(writer, commands, audits)
    await writer.flush()
    assert len(spy.threads) == 1
    if commands + audits >= THREAD_MIN_ROWS:
        assert is_writer_thread(spy.threads[0]), spy.threads[0].name
    else:
        # On the event loop's own thread: the one this test runs on.
        assert spy.threads[0] is threading.current_thread()
    assert await stored_commands(database) == values_of(states)
    assert await stored_audit_events(database) == audits


async def test_the_loop_goes_on_while_the_thread_writes(writer: CommandWriter, db_path: Path) -> None:
    async with flush_held_in_the_thread(writer, THREAD_MIN_ROWS, 0) as held:
        # Timers and other tasks run meanwhile; the flusher waits for the commit.
        await asyncio.sleep(0.01)
        assert not held.flushing.done()
        assert rows(db_path) == 0
    await held.flushing
    assert rows(db_path) == THREAD_MIN_ROWS


async def test_flusher_cancelled_during_a_thread_write_waits_for_it_and_the_batch_counts_as_written(
    writer: CommandWriter,
    database: Database,
    db_path: Path,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    # Not started: the flusher writes the batch itself (as before the writer's task runs).
    async with flush_held_in_the_thread(writer, 4, 4) as held:
        spy, states, flushing = held.spy, held.states, held.flushing
        flushing.cancel()
        # The cancellation waits for the write: the batch may still commit.
        done, _ = await asyncio.wait([flushing], timeout=0.05)
        assert not done
        assert all(writer.is_staged(state.id) for state in states)
    with pytest.raises(asyncio.CancelledError):
        await flushing
    assert flushing.cancelled()

    # Written, and known to be: nothing is staged again.
    assert rows(db_path) == 4
    assert all(state.persisted for state in states)
    assert not any(writer.is_staged(state.id) for state in states)
    # Another flush has nothing to write.
    await writer.flush()
    assert len(spy.threads) == 1

    await writer.close()
    assert len(spy.threads) == 1
    assert write_failures(log_lines) == []
    assert await stored_commands(database) == values_of(states)
    assert await stored_audit_events(database) == 4


async def test_writer_task_cancelled_by_close_during_a_thread_write(
    writer: CommandWriter,
    database: Database,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    task = started_task(writer)
    async with flush_held_in_the_thread(writer, THREAD_MIN_ROWS, 3) as held:
        spy, states, flushing = held.spy, held.states, held.flushing
        closing = asyncio.create_task(writer.close())
        done, _ = await asyncio.wait([closing, flushing], timeout=0.05)
        # close() cancelled the writer's task, which waits for its write.
        assert not done
        assert not task.done()
    await closing
    assert task.cancelled()
    # The flusher's batch committed: it is told so.
    await flushing
    assert len(spy.threads) == 1
    assert all(state.persisted for state in states)
    assert write_failures(log_lines) == []
    assert await stored_commands(database) == values_of(states)
    assert await stored_audit_events(database) == 3


async def test_close_cancelled_meanwhile_writes_what_is_staged_then_is_cancelled(
    writer: CommandWriter, database: Database
) -> None:
    """close() is not given up half done (the staged rows would be lost), nor does it swallow
    its caller's cancellation: that takes effect once close() has finished."""
    task = started_task(writer)
    async with flush_held_in_the_thread(writer, THREAD_MIN_ROWS, 0) as held:
        spy, first = held.spy, held.states
        late = stage_batch(writer, 1, 1, start=100)  # staged, due later: close() writes it
        closing = asyncio.create_task(writer.close())
        await asyncio.sleep(0.01)
        closing.cancel()
        closing.cancel()
        await asyncio.sleep(0.01)
        assert not closing.done()
    await asyncio.wait([closing], timeout=10)
    assert closing.cancelled()
    await held.flushing
    assert task.cancelled()
    assert len(spy.threads) == 2
    assert writer._thread is None
    assert await stored_commands(database) == values_of(first + late)


async def test_failed_thread_write_keeps_its_batch_for_a_later_flush(
    writer: CommandWriter,
    database: Database,
    db_path: Path,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    spy = WriteSpy(writer)
    spy.sabotage_next = True
    states = stage_batch(writer, THREAD_MIN_ROWS, 2)
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        await writer.flush()
    assert is_writer_thread(spy.threads[0])
    assert len(write_failures(log_lines)) == 1
    assert_kept_for_a_retry(writer, db_path, states)
    assert await stored_audit_events(database) == 0

    await writer.flush()
    assert len(spy.threads) == 2
    assert is_writer_thread(spy.threads[1])
    assert all(state.persisted for state in states)
    assert not any(writer.is_staged(state.id) for state in states)
    await writer.close()
    assert len(write_failures(log_lines)) == 1
    assert await stored_commands(database) == values_of(states)
    assert await stored_audit_events(database) == 2


async def test_cancelled_during_a_thread_write_that_fails_raises_its_error_and_keeps_the_batch(
    writer: CommandWriter,
    database: Database,
    db_path: Path,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    async with flush_held_in_the_thread(writer, THREAD_MIN_ROWS, 1, sabotage=True) as held:
        spy, states, flushing = held.spy, held.states, held.flushing
        flushing.cancel()
        done, _ = await asyncio.wait([flushing], timeout=0.05)
        assert not done
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        await flushing
    assert_kept_for_a_retry(writer, db_path, states)

    spy.before = None
    await writer.flush()
    await writer.close()
    assert len(spy.threads) == 2
    assert len(write_failures(log_lines)) == 1
    assert await stored_commands(database) == values_of(states)
    assert await stored_audit_events(database) == 1


async def test_close_writes_what_is_staged_then_shuts_the_thread_down(
    writer: CommandWriter, database: Database
) -> None:
    spy = WriteSpy(writer)
    # Started on first use.
    assert writer._thread is None
    first = stage_batch(writer, THREAD_MIN_ROWS, 0)
    await writer.flush()
    executor = writer._thread
    assert executor is not None
    states = stage_batch(writer, THREAD_MIN_ROWS, 0, start=100)
    await writer.close()
    assert len(spy.threads) == 2
    assert all(is_writer_thread(thread) and not thread.is_alive() for thread in spy.threads)
    assert writer._thread is None
    with pytest.raises(RuntimeError, match="shutdown"):
        executor.submit(lambda: None)
    assert await stored_commands(database) == values_of(first + states)


async def test_big_and_small_batches_after_close_are_still_written(
    writer: CommandWriter, database: Database
) -> None:
    await writer.close()
    big = stage_batch(writer, THREAD_MIN_ROWS, 0)
    await writer.flush()
    small = stage_batch(writer, 1, 0, start=100)
    await writer.flush()
    writer.dispose()
    assert await stored_commands(database) == values_of(big + small)


@pytest.mark.parametrize("close_fails", [False, True], ids=["closes", "fails-to-close"])
async def test_a_timeout_around_close_is_a_timeout_once_close_is_done(
    writer: CommandWriter, database: Database, monkeypatch: pytest.MonkeyPatch, close_fails: bool
) -> None:
    gate = Gate()
    WriteSpy(writer, gate)
    states = stage_batch(writer, THREAD_MIN_ROWS, 0)
    release = asyncio.get_running_loop().call_later(0.1, gate.release.set)
    if close_fails:
        dispose = writer.dispose

        def dispose_then_fail() -> None:
            dispose()
            monkeypatch.undo()  # once: the fixture closes the writer again
            raise RuntimeError("the last step of close() failed")

        monkeypatch.setattr(writer, "dispose", dispose_then_fail)

    async def close_within_a_timeout() -> None:
        async with asyncio.timeout(0.02):
            await writer.close()

    try:
        with pytest.raises(TimeoutError):
            await close_within_a_timeout()
    finally:
        release.cancel()
        gate.release.set()
    # Nothing of the timeout's cancellation is left over for the caller's next wait.
    await asyncio.sleep(0.01)
    assert await stored_commands(database) == values_of(states)


async def test_a_second_cancellation_during_a_thread_write_writes_nothing_twice(
    writer: CommandWriter, database: Database, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    gate = Gate()
    spy = WriteSpy(writer, gate)
    task = started_task(writer)
    for index in range(THREAD_MIN_ROWS):
        writer.audit(audit_values(f"cmd_{index}"))
    writer.nudge()
    try:
        await gate.wait_entered()
        task.cancel()
        await asyncio.sleep(0.01)
        task.cancel()  # again, while the first waits for the write
        await asyncio.sleep(0.01)
        assert not task.done()
    finally:
        gate.release.set()
    await asyncio.wait([task], timeout=10)
    assert task.cancelled()
    assert len(spy.threads) == 1
    assert not write_failures(log_lines)
    assert await stored_audit_events(database) == THREAD_MIN_ROWS


async def test_a_cancelled_writer_task_whose_thread_write_fails_stops_at_once(writer: CommandWriter) -> None:
    gate = Gate()
    spy = WriteSpy(writer, gate)
    spy.sabotage_next = True
    task = started_task(writer)
    states = stage_batch(writer, THREAD_MIN_ROWS, 0)
    writer.nudge()
    try:
        await gate.wait_entered()
        task.cancel()
        await asyncio.sleep(0.01)
    finally:
        gate.release.set()
    # Not after the writer's retry pause (RETRY_SECONDS): the cancellation is not lost.
    done, _ = await asyncio.wait([task], timeout=0.5)
    assert done and task.cancelled()
    assert all(writer.is_staged(state.id) for state in states)
    writer._task = None
    await writer.close()


async def test_flushes_before_start_write_one_batch_at_a_time(
    writer: CommandWriter, database: Database
) -> None:
    """Without the background task, each flush writes its batch itself: a second one waits for a
    batch under way in the thread, rather than writing beside it on the same connection."""
    gate = Gate()
    loop_thread = threading.current_thread()
    WriteSpy(writer, lambda: None if threading.current_thread() is loop_thread else gate())
    big = stage_batch(writer, THREAD_MIN_ROWS, 0)
    first = asyncio.create_task(writer.flush())
    try:
        await gate.wait_entered()
        small = stage_batch(writer, 1, 0, start=100)
        second = asyncio.create_task(writer.flush(*small))
        done, _ = await asyncio.wait([second], timeout=0.05)
        assert not done
        assert all(writer.is_staged(state.id) for state in big + small)
    finally:
        gate.release.set()
    await asyncio.gather(first, second)
    assert await stored_commands(database) == values_of(big + small)
    await writer.close()


async def test_a_flush_while_close_waits_for_the_thread_write_waits_its_turn(
    writer: CommandWriter, database: Database
) -> None:
    """close() lets the task's write end first; a flush meanwhile writes its own batch, but only
    after that one (never beside it on the same connection, inside its transaction)."""
    gate = Gate()
    writing: list[str] = []
    overlaps: list[list[str]] = []

    def one_at_a_time() -> None:
        if writing:
            overlaps.append(list(writing))
        if threading.current_thread() is not threading.main_thread():
            gate()

    spy = WriteSpy(writer, one_at_a_time)
    writer.start()
    big = stage_batch(writer, THREAD_MIN_ROWS, 0)
    writer.nudge()
    try:
        await gate.wait_entered()
        writing.append("thread")
        closing = asyncio.create_task(writer.close())
        await asyncio.sleep(0.01)
        small = stage_batch(writer, 1, 0, start=100)
        flushing = asyncio.create_task(writer.flush(*small))
        done, _ = await asyncio.wait([flushing], timeout=0.05)
        assert not done
    finally:
        writing.clear()
        gate.release.set()
    await asyncio.gather(closing, flushing)
    assert overlaps == []
    assert len(spy.threads) == 2
    assert await stored_commands(database) == values_of(big + small)


async def test_a_timeout_around_a_flush_written_in_the_thread_stays_a_timeout(writer: CommandWriter) -> None:
    """Without the background task a flush writes in the caller's task: the timeout that
    interrupts it is still reported as a timeout, once the write has ended."""
    gate = Gate()
    WriteSpy(writer, gate)
    stage_batch(writer, THREAD_MIN_ROWS, 0)

    async def caller() -> str:
        try:
            async with asyncio.timeout(0.01):
                await writer.flush()
                await asyncio.sleep(0)
        except TimeoutError:
            return "timeout"
        return "no timeout"

    calling = asyncio.create_task(caller())
    await gate.wait_entered()
    await asyncio.sleep(0.03)
    gate.release.set()
    assert await calling == "timeout"
    assert not writer.is_staged(command_state(0).id)
    await writer.close()
