"""Group commit: command rows, their audit events and executor heartbeats, written in batches.

A command used to cost four transactions (stored, leased, result, audit), each a round of thread
hops through aiosqlite or of network round trips to PostgreSQL. The server that accepted a command
now keeps its state in memory (``CommandState``) and stages it here; one background task writes
whatever is staged in one transaction:

* **Staged** work waits up to ``delay`` seconds, so that a command that finishes quickly is
  written once, as its final row, instead of as an INSERT and then UPDATEs.
* **Flushed** work (``await writer.flush()``) is written at once, together with everything staged
  before, and the caller resumes when the transaction has committed. Callers flush before they
  promise durability: a 202 for an async command, a result handed back to a caller, a result
  acknowledged to an executor.

Concurrent flushes share one transaction (group commit), so the cost per command falls as load
rises. A failed write keeps its work staged and is retried; the flushers of that batch see the
error. Other sources (executor heartbeats) join the same transactions through ``add_source``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Executable, Table, bindparam, create_engine, event, insert, update
from sqlalchemy.exc import OperationalError

from pilothouse.audit.models import AuditEvent
from pilothouse.commands.models import MUTABLE_COLUMNS, Command, CommandState
from pilothouse.observability.logging import get_logger
from pilothouse.store.database import Database, sqlite_file

log = get_logger(__name__)

# How long staged (not flushed) work may wait: long enough for most commands to finish first,
# short enough that a running command's row appears soon.
WRITE_DELAY_SECONDS = 0.2
RETRY_SECONDS = 1.0
# A SQLite database another connection is writing: try again this soon.
BUSY_RETRY_SECONDS = 0.002
BUSY_ATTEMPTS = 2500
CHECKPOINT_SECONDS = 1.0

_COMMANDS = cast(Table, Command.__table__)
_INSERT_COMMAND = insert(_COMMANDS)
_UPDATE_COMMAND = (
    update(_COMMANDS)
    .where(_COMMANDS.c.id == bindparam("_id"))
    .values({name: bindparam(name) for name in MUTABLE_COLUMNS})
)
_INSERT_AUDIT = insert(cast(Table, AuditEvent.__table__))


Statements = list[tuple[Executable, list[dict[str, Any]]]]


@dataclass(frozen=True)
class BatchSource:
    """Other work written in the writer's transactions: ``take`` hands over what is pending (or
    None), ``statements`` says how to write it, ``restore`` takes it back after a failure."""

    take: Callable[[], Any]
    statements: Callable[[Any], Statements]
    restore: Callable[[Any], None]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        # Never wait for another writer on the event loop: a busy database is retried later.
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Never copy the log back into the database file during a commit here: see Checkpointer.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    finally:
        cursor.close()


class Checkpointer:
    """Copies SQLite's write-ahead log back into the database file, in a thread.

    SQLite does this itself ("auto-checkpoint") at the end of a commit that leaves the log over
    1,000 pages. On the writer's connection that commit runs on the event loop, and the copy and
    the fsync that ends it stalled every request for 8-10 ms every ~80 commands (the ping bench's
    p99). The writer's connection has auto-checkpoint off, and after its commits this runs a
    PASSIVE checkpoint (it never blocks readers or writers) at most every ``interval`` seconds,
    from a thread whose SQLite calls release the GIL.
    """

    def __init__(self, path: Path, *, interval: float = CHECKPOINT_SECONDS) -> None:
        self._path = path
        self._interval = interval
        self._connection: sqlite3.Connection | None = None
        self._running: asyncio.Future[None] | None = None
        self._next_at = 0.0

    def after_commit(self) -> None:
        loop = asyncio.get_running_loop()
        if self._running is None and loop.time() >= self._next_at:
            self._next_at = loop.time() + self._interval
            self._running = asyncio.ensure_future(asyncio.to_thread(self._checkpoint))
            self._running.add_done_callback(self._finished)

    def _finished(self, future: asyncio.Future[None]) -> None:
        self._running = None
        if not future.cancelled() and future.exception() is not None:
            # The next one tries again; SQLite's log only grows meanwhile.
            log.warning("sqlite_checkpoint_failed", error=str(future.exception()))

    def _checkpoint(self) -> None:
        if self._connection is None:
            self._connection = sqlite3.connect(self._path, timeout=0, check_same_thread=False)
        self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    async def close(self) -> None:
        if self._running is not None:
            with contextlib.suppress(Exception):
                await self._running
        await asyncio.to_thread(self._close_sync)

    def _close_sync(self) -> None:
        if self._connection is None:
            self._connection = sqlite3.connect(self._path, timeout=0, check_same_thread=False)
        with contextlib.suppress(sqlite3.Error):
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self._connection.close()
        self._connection = None


def _loop_engine(database: Database) -> tuple[Engine, Checkpointer] | None:
    """For a SQLite file: a synchronous engine the writer uses on the event loop itself, and the
    checkpointer its connection relies on.

    A batch through aiosqlite costs a thread hop per statement, and under load each hop waits
    for the GIL for up to a switch interval (5 ms); written on the loop, a batch of a few rows is
    a fraction of a millisecond (WAL, synchronous=NORMAL: a commit writes, it does not fsync).
    """
    path = sqlite_file(database.url)
    if path is None:
        return None
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine, Checkpointer(path)


class CommandWriter:
    def __init__(self, database: Database, *, delay: float = WRITE_DELAY_SECONDS) -> None:
        self._database = database
        self._delay = delay
        # Staged commands, and the loop time by which each must be written.
        self._rows: dict[str, CommandState] = {}
        self._due: dict[str, float] = {}
        self._audits: list[dict[str, Any]] = []
        self._sources: list[BatchSource] = []
        self._pending = asyncio.Event()
        self._urgent = asyncio.Event()
        # Resolved when the next batch has committed; the batch being written has its own.
        self._next: asyncio.Future[None] | None = None
        self._writing: asyncio.Future[None] | None = None
        self._writing_ids: frozenset[str] = frozenset()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        on_loop = _loop_engine(database)
        self._loop_engine: Engine | None = on_loop[0] if on_loop else None
        self._checkpointer: Checkpointer | None = on_loop[1] if on_loop else None

    # --- staging ---------------------------------------------------------------------------

    def stage(self, state: CommandState) -> None:
        """Write this command's current state within the delay (an INSERT the first time, then
        UPDATEs); changes made meanwhile are written with it."""
        self._rows[state.id] = state
        if state.id not in self._due:
            self._due[state.id] = asyncio.get_running_loop().time() + self._delay
        self._pending.set()

    def audit(self, values: dict[str, Any]) -> None:
        """Insert an audit event (``audit.service.event_values``) with the next batch."""
        self._audits.append(values)
        self._pending.set()

    def is_staged(self, command_id: str) -> bool:
        """Whether a write of this command is pending or under way."""
        return command_id in self._rows or command_id in self._writing_ids

    def add_source(self, source: BatchSource) -> None:
        self._sources.append(source)

    def nudge(self) -> None:
        """A source has something pending (written within the delay)."""
        self._pending.set()

    async def flush(self, *states: CommandState) -> None:
        """Return once ``states`` (none given: everything staged so far), and every audit event
        staged before, have committed; raises if that write failed."""
        keys = [state.id for state in states] if states else list(self._due)
        staged = [key for key in keys if key in self._rows]
        for key in staged:
            self._due[key] = 0.0
        if staged or self._audits:
            await self._flush_next()
        elif self._writing is not None and (not states or self._writing_ids.intersection(keys)):
            await asyncio.shield(self._writing)

    async def _flush_next(self) -> None:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        waiter = self._next
        self._urgent.set()
        self._pending.set()
        if self._task is None:
            await self._write_batch()
        await asyncio.shield(waiter)

    # --- the background task -----------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="command-writer")

    async def close(self) -> None:
        """Write what is left and stop."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for key in self._due:
            self._due[key] = 0.0
        for _ in range(3):
            try:
                await self._write_batch()
            except Exception:  # logged in _write_batch
                await asyncio.sleep(0.1)
            else:
                if not (self._rows or self._audits):
                    break
        if self._checkpointer is not None:
            await self._checkpointer.close()
        self.dispose()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            await self._pending.wait()
            if not self._urgent.is_set():
                # Until the first staged row is due (heartbeats and audit events: one delay).
                first_due = min(self._due.values(), default=loop.time() + self._delay)
                wait = first_due - loop.time()
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._urgent.wait(), wait)
            try:
                await self._write_batch()
            except Exception:
                await asyncio.sleep(RETRY_SECONDS)

    async def _write_batch(self) -> None:
        self._urgent.clear()
        now = asyncio.get_running_loop().time()
        due = [key for key, when in self._due.items() if when <= now]
        rows = {key: self._rows.pop(key) for key in due}
        for key in due:
            del self._due[key]
        # What is left waits for its own time; the loop comes back for it.
        if not self._rows:
            self._pending.clear()
        audits, self._audits = self._audits, []
        taken = [(source, source.take()) for source in self._sources]
        taken = [(source, item) for source, item in taken if item is not None]
        done, self._next = self._next, None
        if not (rows or audits or taken):
            if done is not None:
                done.set_result(None)
            return
        if done is None:
            done = asyncio.get_running_loop().create_future()
        self._writing, self._writing_ids = done, frozenset(rows)
        # Snapshots: a state that changes while this batch is written is staged again.
        inserts = [state.values() for state in rows.values() if not state.persisted]
        updates = [{"_id": state.id, **state.changes()} for state in rows.values() if state.persisted]
        statements: Statements = []
        if inserts:
            statements.append((_INSERT_COMMAND, inserts))
        if updates:
            statements.append((_UPDATE_COMMAND, updates))
        if audits:
            statements.append((_INSERT_AUDIT, audits))
        for source, item in taken:
            statements.extend(source.statements(item))
        try:
            await self._execute(statements)
        except BaseException as exc:
            # Keep the work (a newer staging of the same command wins) and tell the flushers.
            for key, state in rows.items():
                self._rows.setdefault(key, state)
                self._due[key] = 0.0
            self._audits = audits + self._audits
            for source, item in taken:
                source.restore(item)
            self._pending.set()
            self._writing, self._writing_ids = None, frozenset()
            if isinstance(exc, Exception):
                done.set_exception(exc)
                done.add_done_callback(lambda future: future.exception())
                log.error("command_write_failed", error=str(exc), commands=len(rows), audits=len(audits))
            else:
                done.cancel()
            raise
        for state in rows.values():
            state.persisted = True
        self._writing, self._writing_ids = None, frozenset()
        done.set_result(None)

    async def _execute(self, statements: Statements) -> None:
        """Run ``statements`` in one transaction."""
        engine = self._loop_engine
        if engine is None:
            async with self._database.engine.begin() as connection:
                for statement, parameters in statements:
                    await connection.execute(statement, parameters)
            return
        for attempt in range(BUSY_ATTEMPTS):
            try:
                with engine.begin() as connection:
                    for statement, parameters in statements:
                        connection.execute(statement, parameters)
                if self._checkpointer is not None:
                    self._checkpointer.after_commit()
                return
            except OperationalError as exc:
                if "locked" not in str(exc) or attempt == BUSY_ATTEMPTS - 1:
                    raise
            await asyncio.sleep(BUSY_RETRY_SECONDS)

    def dispose(self) -> None:
        if self._loop_engine is not None:
            self._loop_engine.dispose()
