"""The command writer's SQLite checkpoints: its connection never checkpoints during a commit, and
``Checkpointer`` copies the write-ahead log back into the database file from a thread."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from pilothouse.commands.models import CommandState, CommandStatus
from pilothouse.commands.writer import Checkpointer, CommandWriter
from pilothouse.store.database import Database
from tests.debug_api.conftest import migrated_database

# A frozen event loop must fail the test, not hang the run.
pytestmark = pytest.mark.timeout(30)

# A commit of one command row writes a handful of WAL frames; a log that is restarted after each
# checkpoint stays within a few commits' worth, one that never restarts holds every commit.
FEW_FRAMES = 40


def command_state(index: int) -> CommandState:
    now = datetime.now(UTC)
    return CommandState(
        id=f"cmd_{index:032x}",
        kind="kubectl",
        cluster_id="c-1",
        session_id=None,
        key_id="key-1",
        principal_name="tester",
        service_identity=None,
        correlation_id=None,
        request_id=None,
        command_type="get",
        args=["get", "pods"],
        namespace="default",
        timeout_seconds=5.0,
        status=CommandStatus.PENDING.value,
        created_at=now,
        deadline=now + timedelta(seconds=5),
    )


async def commit(writer: CommandWriter, index: int) -> None:
    """Write command ``index`` through the writer: one commit."""
    state = command_state(index)
    writer.stage(state)
    await writer.flush(state)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "pilothouse.db"


@pytest.fixture
async def database(db_path: Path) -> AsyncIterator[Database]:
    # The app's own engine stays connected, as in a server: the log is not removed when the
    # writer's connections close.
    async with migrated_database(f"sqlite+aiosqlite:///{db_path}") as instance:
        yield instance


@pytest.fixture
async def writer(database: Database) -> AsyncIterator[CommandWriter]:
    instance = CommandWriter(database)
    try:
        yield instance
    finally:
        await instance.close()


async def settle(checkpointer: Checkpointer) -> None:
    """Wait for a running checkpoint round to end."""
    running = checkpointer._running
    if running is not None:
        await asyncio.wait([running])
    await asyncio.sleep(0)
    assert checkpointer._running is None


def log_frames(path: Path) -> tuple[int, int, int]:
    """(busy, frames in the log, frames checkpointed) from a connection of our own."""
    connection = sqlite3.connect(path)
    try:
        busy, frames, checkpointed = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        connection.close()
    return busy, frames, checkpointed


def rows(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        (count,) = connection.execute("SELECT count(*) FROM commands").fetchone()
    finally:
        connection.close()
    return int(count)


def rows_in_database_file(path: Path, scratch: Path) -> int:
    """Commands in the database file itself, without its log: what checkpoints copied there."""
    copy = scratch / "without-log.db"
    shutil.copyfile(path, copy)
    return rows(copy)


def count_calls(checkpointer: Checkpointer, action: Callable[[], None] | None = None) -> list[int]:
    """Replace the checkpoint with a counter (running ``action``, if any, in its thread)."""
    calls: list[int] = []

    def counted() -> None:
        calls.append(1)
        if action is not None:
            action()

    checkpointer._checkpoint = counted  # type: ignore[method-assign]
    return calls


async def test_writer_connection_has_auto_checkpoint_off(writer: CommandWriter) -> None:
    engine = writer._loop_engine
    assert engine is not None
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        assert str(connection.exec_driver_sql("PRAGMA journal_mode").scalar()).lower() == "wal"


async def test_log_is_checkpointed_after_commits_and_stays_small(
    writer: CommandWriter, db_path: Path, tmp_path: Path
) -> None:
    checkpointer = writer._checkpointer = Checkpointer(db_path, interval=0.0)
    total = 120
    for index in range(total):
        await commit(writer, index)
        # Each commit's checkpoint finishes before the next commit (a server between bursts).
        await settle(checkpointer)
    busy, frames, checkpointed = log_frames(db_path)
    assert busy == 0
    # The log restarts after each complete checkpoint: it holds the last commit, not all of them.
    assert frames < FEW_FRAMES
    assert frames == checkpointed
    # Copied into the database file itself, not only readable through the log.
    assert rows_in_database_file(db_path, tmp_path) == total
    await writer.close()
    assert rows(db_path) == total
    assert rows_in_database_file(db_path, tmp_path) == total


async def test_log_stays_small_when_commits_overlap_checkpoints(writer: CommandWriter, db_path: Path) -> None:
    """Sustained load: the writer commits while a checkpoint copies the log. SQLite restarts the
    log only when a write begins after a checkpoint copied every frame; a checkpoint that always
    overlaps the writer's next transaction never lets it (the first Checkpointer did exactly that,
    and the log grew by every commit: 1,086 frames here)."""
    checkpointer = writer._checkpointer = Checkpointer(db_path, interval=0.0)
    engine = writer._loop_engine
    assert engine is not None
    # Deterministic overlap: a checkpoint pass waits (briefly) until the writer's next transaction
    # is open (its row inserted, not committed) and runs then; the transaction commits after it.
    transaction_open = threading.Event()
    checkpoint_done = threading.Event()
    real_checkpoint = checkpointer._checkpoint
    overlapped: list[bool] = []

    def checkpoint_during_next_transaction() -> None:
        opened = transaction_open.wait(0.005)
        transaction_open.clear()
        real_checkpoint()
        overlapped.append(opened)
        checkpoint_done.set()

    checkpointer._checkpoint = checkpoint_during_next_transaction  # type: ignore[method-assign]
    held: list[object] = []
    stalled: list[str] = []

    def before_commit(statement: str) -> None:
        # SQLite's trace callback, on the loop: every statement of the writer's connection, before
        # it runs (exceptions here are swallowed by sqlite3, hence ``stalled``).
        running = checkpointer._running
        if statement.strip() == "COMMIT" and running is not None and running not in held:
            held.append(running)
            checkpoint_done.clear()
            transaction_open.set()
            if not checkpoint_done.wait(2):
                stalled.append(statement)

    def trace_writer_connection(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(before_commit)

    # Before the writer's first write, which opens its connection.
    event.listen(engine, "connect", trace_writer_connection)
    total = 60
    for index in range(total):
        await commit(writer, index)
        # Let the checkpoint task hand its work to the thread before the next commit.
        await asyncio.sleep(0)
    held.append("done")  # no more holds
    await settle(checkpointer)
    if stalled or sum(overlapped) < total // 5:
        raise RuntimeError(
            f"harness: {sum(overlapped)} checkpoints overlapped a commit, {len(stalled)} stalled"
        )
    _busy, frames, _checkpointed = log_frames(db_path)
    assert frames < FEW_FRAMES, f"{frames} frames in the log after {total} commits"


async def test_second_call_within_interval_starts_no_checkpoint(db_path: Path, database: Database) -> None:
    checkpointer = Checkpointer(db_path, interval=60.0)
    calls = count_calls(checkpointer)
    checkpointer.after_commit()
    checkpointer.after_commit()
    await settle(checkpointer)
    per_round = len(calls)
    assert per_round >= 1
    checkpointer.after_commit()
    await settle(checkpointer)
    assert len(calls) == per_round
    await checkpointer.close()


async def test_no_second_checkpoint_while_one_is_running(db_path: Path, database: Database) -> None:
    checkpointer = Checkpointer(db_path, interval=0.0)
    release = threading.Event()

    def blocked() -> None:
        release.wait(5)

    calls = count_calls(checkpointer, blocked)
    checkpointer.after_commit()
    first = checkpointer._running
    assert first is not None
    await asyncio.sleep(0.01)
    checkpointer.after_commit()
    checkpointer.after_commit()
    assert checkpointer._running is first
    release.set()
    await settle(checkpointer)
    per_round = len(calls)
    assert per_round >= 1
    # Once it has finished, the next commit (interval 0) starts another.
    checkpointer.after_commit()
    await settle(checkpointer)
    assert len(calls) == 2 * per_round
    await checkpointer.close()


def locked() -> None:
    """A checkpoint that finds the database locked."""
    raise sqlite3.OperationalError("database is locked")


async def test_failed_checkpoint_is_logged_and_a_later_one_runs(
    db_path: Path, database: Database, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    checkpointer = Checkpointer(db_path, interval=0.0)

    failing = count_calls(checkpointer, locked)
    checkpointer.after_commit()
    await settle(checkpointer)
    assert len(failing) == 1
    failures = [line for line in log_lines() if line["event"] == "sqlite_checkpoint_failed"]
    assert len(failures) == 1
    assert failures[0]["level"] == "warning"
    assert "database is locked" in failures[0]["error"]

    working = count_calls(checkpointer)
    checkpointer.after_commit()
    await settle(checkpointer)
    assert len(failing) == 1
    assert len(working) >= 1
    assert len([line for line in log_lines() if line["event"] == "sqlite_checkpoint_failed"]) == 1
    await checkpointer.close()


async def test_failed_checkpoint_waits_for_the_interval(db_path: Path, database: Database) -> None:
    checkpointer = Checkpointer(db_path, interval=60.0)

    calls = count_calls(checkpointer, locked)
    checkpointer.after_commit()
    await settle(checkpointer)
    checkpointer.after_commit()
    await settle(checkpointer)
    assert len(calls) == 1


async def test_close_checkpoints_what_is_left(writer: CommandWriter, db_path: Path, tmp_path: Path) -> None:
    checkpointer = writer._checkpointer = Checkpointer(db_path, interval=3600.0)
    total = 30
    for index in range(total):
        await commit(writer, index)
        await settle(checkpointer)
    # Only the first commit was checkpointed (the interval has not passed since).
    assert rows_in_database_file(db_path, tmp_path) == 1
    await writer.close()
    assert rows_in_database_file(db_path, tmp_path) == total
    assert rows(db_path) == total


async def test_close_waits_for_a_running_checkpoint(db_path: Path, database: Database) -> None:
    checkpointer = Checkpointer(db_path, interval=0.0)
    release = threading.Event()
    finished: list[int] = []

    def slow() -> None:
        release.wait(5)
        finished.append(1)

    count_calls(checkpointer, slow)
    checkpointer.after_commit()
    closing = asyncio.ensure_future(checkpointer.close())
    await asyncio.sleep(0.01)
    assert not closing.done()
    assert finished == []
    release.set()
    await closing
    assert finished
    assert checkpointer._running is None
    assert checkpointer._connection is None


async def test_writer_holds_its_transaction_while_the_final_pass_runs(
    writer: CommandWriter, db_path: Path
) -> None:
    """The writer does not commit while the checkpoint that lets SQLite restart the log runs
    (``Checkpointer.idle``)."""
    checkpointer = writer._checkpointer = Checkpointer(db_path, interval=0.0)
    release = threading.Event()
    passes: list[int] = []

    def final_pass_held() -> None:
        passes.append(1)
        if len(passes) % 2 == 0:  # the second pass of a round
            release.wait(5)

    first = command_state(0)
    writer.stage(first)
    await writer.flush(first)
    await settle(checkpointer)
    count_calls(checkpointer, final_pass_held)
    second = command_state(1)
    writer.stage(second)
    await writer.flush(second)  # starts a round: its final pass is held in the thread
    async with asyncio.timeout(5):
        while checkpointer._final_pass is None:
            await asyncio.sleep(0.001)
    third = command_state(2)
    writer.stage(third)
    flushing = asyncio.ensure_future(writer.flush(third))
    await asyncio.sleep(0.02)
    assert not flushing.done()
    assert rows(db_path) == 2
    release.set()
    await flushing
    assert rows(db_path) == 3


def _spins(checkpointer: Checkpointer, scenario: Callable[[], Any]) -> bool:
    """Run ``scenario()`` (a coroutine) on an event loop of its own in a thread; True if it was
    still running after a second (idle() spinning without yielding). The spin is then broken so
    that the thread ends."""
    thread = threading.Thread(target=lambda: asyncio.run(scenario()), daemon=True)
    thread.start()
    thread.join(1.0)
    spinning = thread.is_alive()
    if spinning:
        checkpointer._final_pass = None
        thread.join(5)
    return spinning


def test_idle_returns_when_the_final_pass_has_just_finished(db_path: Path) -> None:
    checkpointer = Checkpointer(db_path, interval=0.0)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        final_pass = loop.create_future()
        final_pass.set_result(None)
        checkpointer._final_pass = final_pass
        # What the checkpoint task does once it resumes, an iteration later.
        loop.call_soon(setattr, checkpointer, "_final_pass", None)
        await checkpointer.idle()

    assert not _spins(checkpointer, scenario), "idle() never returned"
