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
import functools
import operator
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Dialect, Engine, Executable, Table, bindparam, create_engine, event, insert, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.util import greenlet_spawn

from pilothouse.audit.models import AuditEvent
from pilothouse.commands.models import MUTABLE_COLUMNS, Command, CommandState
from pilothouse.observability.logging import get_logger
from pilothouse.store.database import Database, json_text, sqlite_file, sqlite_pragmas
from pilothouse.waiting import outlast_cancellation

log = get_logger(__name__)

# How long staged (not flushed) work may wait: long enough for most commands to finish first,
# short enough that a running command's row appears soon.
WRITE_DELAY_SECONDS = 0.2
RETRY_SECONDS = 1.0
# A SQLite database another connection is writing: try again this soon.
BUSY_RETRY_SECONDS = 0.002
BUSY_ATTEMPTS = 2500
CHECKPOINT_SECONDS = 1.0
# A batch of at least this many rows is written from the writer's thread: SQLite releases the GIL
# while it writes pages, so the event loop goes on serving meanwhile. A smaller batch (a lone
# command's final row and audit event are 2) is written on the loop, where it costs less than the
# hand-over to a thread and back, and adds no latency.
THREAD_MIN_ROWS = 6
WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024

_COMMANDS = cast(Table, Command.__table__)
_INSERT_COMMAND = insert(_COMMANDS)
_UPDATE_COMMAND = (
    update(_COMMANDS)
    .where(_COMMANDS.c.id == bindparam("_id"))
    .values({name: bindparam(name) for name in MUTABLE_COLUMNS})
)
_INSERT_AUDIT = insert(cast(Table, AuditEvent.__table__))


Statements = list[tuple[Executable, list[dict[str, Any]]]]
# Statements with their driver form (None: none), as _DriverStatements gives them.
DriverBatches = list[tuple["_DriverStatement | None", list[dict[str, Any]]]]
# The driver's SQL with its rows' parameters, bound.
BoundStatements = list[tuple[str, list[tuple[Any, ...]]]]


def _bind_all(batches: DriverBatches) -> BoundStatements | None:
    """Every statement bound for the driver, or None if one has no driver form."""
    bound: BoundStatements = []
    for driver, rows in batches:
        if driver is None:
            return None
        bound.append((driver.sql, [driver.bind(row) for row in rows]))
    return bound


@dataclass(frozen=True)
class BatchSource:
    """Other work written in the writer's transactions: ``take`` hands over what is pending (or
    None), ``statements`` says how to write it, ``restore`` takes it back after a failure."""

    take: Callable[[], Any]
    statements: Callable[[Any], Statements]
    restore: Callable[[Any], None]


class Checkpointer:
    """Copies SQLite's write-ahead log back into the database file, from a thread.

    SQLite does this itself ("auto-checkpoint") at the end of a commit that leaves the log over
    1,000 pages. On the writer's connection that commit runs on the event loop, and the copy and
    the fsync that ends it stalled every request for 8-10 ms every ~80 commands (the ping bench's
    p99). So the writer's connection has auto-checkpoint off, and after its commits this runs a
    checkpoint at most every ``interval`` seconds in a thread (SQLite releases the GIL).

    In two passes: SQLite starts the log over only when a write begins after a checkpoint copied
    every frame, which a checkpoint racing a writer that commits hundreds of times a second never
    achieves (the log grew without end). The first pass copies the bulk while the writer goes on;
    for the second, which copies what was written meanwhile, the writer holds its next
    transaction (``idle``): a few milliseconds once a second, and the event loop goes on.
    """

    def __init__(self, path: Path, *, interval: float = CHECKPOINT_SECONDS) -> None:
        self._path = path
        self._interval = interval
        self._connection: sqlite3.Connection | None = None
        self._running: asyncio.Task[None] | None = None
        self._final_pass: asyncio.Future[None] | None = None
        self._next_at = 0.0

    async def idle(self) -> None:
        """Return once no final pass is running."""
        final_pass = self._final_pass
        # A finished pass may not be cleared yet; awaiting it again would not yield.
        if final_pass is not None and not final_pass.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(final_pass)

    def after_commit(self) -> None:
        loop = asyncio.get_running_loop()
        if self._running is None and loop.time() >= self._next_at:
            self._next_at = loop.time() + self._interval
            self._running = asyncio.create_task(self._checkpoint_twice(), name="sqlite-checkpoint")

    async def _checkpoint_twice(self) -> None:
        try:
            await asyncio.to_thread(self._checkpoint)
            self._final_pass = asyncio.ensure_future(asyncio.to_thread(self._checkpoint))
            await self._final_pass
        except Exception as exc:
            # The next round tries again; SQLite's log only grows meanwhile.
            log.warning("sqlite_checkpoint_failed", error=str(exc))
        finally:
            self._final_pass = None
            self._running = None

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
        with contextlib.suppress(sqlite3.Error):
            self._checkpoint()
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _write_through_engine(engine: Engine, statements: Statements) -> None:
    """One transaction through SQLAlchemy (statements the driver path cannot take)."""
    with engine.begin() as connection:
        for statement, rows in statements:
            connection.execute(statement, rows)


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
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"timeout": 0, "check_same_thread": False},
        json_serializer=json_text,
    )
    event.listen(
        engine,
        "connect",
        sqlite_pragmas(
            # Never wait for another writer on the event loop: a busy database is retried later.
            busy_timeout_ms=0,
            extra=(
                # Never copy the log back into the database file during a commit: see Checkpointer.
                "wal_autocheckpoint=0",
                # When the log starts over, cut the file back to this size (it otherwise keeps the
                # size of the busiest second).
                f"journal_size_limit={WAL_SIZE_LIMIT_BYTES}",
            ),
        ),
    )
    return engine, Checkpointer(path)


@dataclass(frozen=True)
class _DriverStatement:
    """A statement as SQL for the driver, with the bind processors of its parameters in order."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    # Bound once per row: the values in order, fetched in one C call, then only the parameters
    # that have a processor (None included: a processor may turn it into something else).
    _values: Callable[[dict[str, Any]], tuple[Any, ...]] = field(init=False, repr=False)
    _processed: tuple[tuple[int, Callable[[Any], Any]], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = self.names

        def in_order(row: dict[str, Any]) -> tuple[Any, ...]:
            return tuple(row[name] for name in names)

        # itemgetter of one name gives the value itself, not a tuple.
        object.__setattr__(self, "_values", operator.itemgetter(*names) if len(names) > 1 else in_order)
        processed = tuple((index, process) for index, process in enumerate(self.processors) if process)
        object.__setattr__(self, "_processed", processed)

    def bind(self, row: dict[str, Any]) -> tuple[Any, ...]:
        values = self._values(row)
        if not self._processed:
            return values
        bound = list(values)
        for index, process in self._processed:
            bound[index] = process(bound[index])
        return tuple(bound)


class _DriverStatements:
    """The writer's statements compiled once and run on the driver itself: SQLite's cursor on the
    loop, or an asyncpg connection.

    Through ``Connection.execute`` each batch paid SQLAlchemy's execution context, compiled-cache
    lookup and result set-up per statement (and, on asyncpg, a greenlet switch), more than the
    database's own work. The SQL is SQLAlchemy's
    and so are the bind processors (the column types' own), so the rows are stored exactly as
    SQLAlchemy stores them. A statement this cannot run as is (a parameter SQLAlchemy would fill
    in, rows with different keys) returns None and goes through ``Connection.execute``.
    """

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        # By statement object (they are module-level or cached) and parameter names.
        self._compiled: dict[tuple[int, frozenset[str]], tuple[Executable, _DriverStatement | None]] = {}

    def get(self, statement: Executable, rows: list[dict[str, Any]]) -> _DriverStatement | None:
        if not rows:
            return None
        keys = frozenset(rows[0])
        if any(len(row) != len(keys) or not keys.issuperset(row) for row in rows[1:]):
            return None
        cache_key = (id(statement), keys)
        cached = self._compiled.get(cache_key)
        if cached is None or cached[0] is not statement:
            cached = self._compiled[cache_key] = (statement, self._compile(statement, keys))
        return cached[1]

    def _compile(self, statement: Executable, keys: frozenset[str]) -> _DriverStatement | None:
        if not isinstance(statement, ClauseElement):
            return None
        # for_executemany: no RETURNING of generated keys nobody reads.
        compiled = statement.compile(dialect=self._dialect, column_keys=sorted(keys), for_executemany=True)
        names = getattr(compiled, "positiontup", None)
        binds = getattr(compiled, "binds", {})
        if names is None or not keys.issuperset(names) or any(name not in binds for name in names):
            return None
        return _DriverStatement(
            sql=str(compiled),
            names=tuple(names),
            processors=tuple(
                binds[name].type.dialect_impl(self._dialect).bind_processor(self._dialect) for name in names
            ),
        )


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
        # The connection batches are written on when it is a driver's own (see _DriverStatements):
        # SQLite's on the loop, or asyncpg's.
        driver_dialect = self._loop_engine.dialect if self._loop_engine else None
        if driver_dialect is None and database.engine.dialect.driver == "asyncpg":
            driver_dialect = database.engine.dialect
        self._driver_statements = _DriverStatements(driver_dialect) if driver_dialect else None
        self._held: PoolProxiedConnection | None = None
        self._checkpointer: Checkpointer | None = on_loop[1] if on_loop else None
        # SQLite: big batches are written from this thread (see THREAD_MIN_ROWS), started on first use.
        self._thread: ThreadPoolExecutor | None = None
        # One batch at a time: the background task's, or one a flush writes itself while the task
        # is not running (before start, while close waits for the task, after close).
        self._write_lock = asyncio.Lock()

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
            async with self._write_lock:
                await self._write_batch()
        await asyncio.shield(waiter)

    # --- the background task -----------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="command-writer")

    async def close(self) -> None:
        """Write what is left and stop. A cancellation meanwhile takes effect once that is done
        (what is staged is not given up), also when closing failed."""
        try:
            await outlast_cancellation(asyncio.ensure_future(self._close()))
        finally:
            # A cancellation that came meanwhile arrives here, inside the caller's own timeout if
            # any, rather than at whatever the caller awaits next.
            await asyncio.sleep(0)

    async def _close(self) -> None:
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait((task,))
        for key in self._due:
            self._due[key] = 0.0
        for _ in range(3):
            try:
                async with self._write_lock:
                    await self._write_batch()
            except Exception:  # logged in _write_batch
                await asyncio.sleep(0.1)
            else:
                if not (self._rows or self._audits):
                    break
        if self._checkpointer is not None:
            await self._checkpointer.close()
        if self._held is not None and self._loop_engine is None:
            # An asyncpg connection goes back to its pool through SQLAlchemy's async machinery.
            held, self._held = self._held, None
            await greenlet_spawn(held.close)
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
                async with self._write_lock:
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
        driver_statements = self._driver_statements
        on_driver = [
            (driver_statements.get(statement, rows) if driver_statements else None, rows)
            for statement, rows in statements
        ]
        # Bound here, on the loop, also for a thread: the bind processors are Python.
        bound = _bind_all(on_driver)
        if engine is None:
            if bound is not None:
                await self._write_on_asyncpg(bound)
            else:
                async with self._database.engine.begin() as connection:
                    for statement, rows in statements:
                        await connection.execute(statement, rows)
            return
        if bound is not None:
            write = functools.partial(self._write_on_sqlite, bound)
        else:
            write = functools.partial(_write_through_engine, engine, statements)
        off_loop = sum(len(rows) for _, rows in statements) >= THREAD_MIN_ROWS
        for attempt in range(BUSY_ATTEMPTS):
            if self._checkpointer is not None:
                await self._checkpointer.idle()
            try:
                if off_loop:
                    await self._in_thread(write)
                else:
                    write()
                if self._checkpointer is not None:
                    self._checkpointer.after_commit()
                return
            except (OperationalError, sqlite3.OperationalError) as exc:
                if "locked" not in str(exc) or attempt == BUSY_ATTEMPTS - 1:
                    raise
            await asyncio.sleep(BUSY_RETRY_SECONDS)

    async def _in_thread(self, write: Callable[[], None]) -> None:
        """``write()`` in the writer's thread. A batch must never be written again while it may
        still commit, so a cancellation (one or several) takes effect only once the write has
        ended: at the writer's next wait if the batch was written, else with the write's error
        (the batch is then kept for a retry)."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="command-writer")
        await outlast_cancellation(asyncio.get_running_loop().run_in_executor(self._thread, write))

    def _write_on_sqlite(self, statements: BoundStatements) -> None:
        """One transaction on the writer's own connection, held for its lifetime (a pool
        checkout and SQLAlchemy's transaction objects per batch cost more than the batch)."""
        if self._held is None:
            assert self._loop_engine is not None
            self._held = self._loop_engine.raw_connection()
        connection = self._held
        cursor = connection.cursor()
        try:
            for sql, rows in statements:
                cursor.executemany(sql, rows)
            connection.commit()
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                connection.rollback()
            raise
        finally:
            cursor.close()

    async def _write_on_asyncpg(self, statements: BoundStatements) -> None:
        """One transaction on an asyncpg connection held for the writer's lifetime: through
        SQLAlchemy's async layer every statement also paid a greenlet switch and the adapter's
        bookkeeping. The connection keeps the type codecs SQLAlchemy set up on it (JSON)."""
        if self._held is None:
            self._held = await self._database.engine.raw_connection()
        held = self._held
        connection = held.driver_connection
        assert connection is not None
        try:
            if len(statements) == 1:
                # One statement: executemany is atomic on its own (asyncpg 0.22+), which saves the
                # BEGIN and COMMIT round trips (the row flushed before an async command's 202).
                await connection.executemany(*statements[0])
            else:
                async with connection.transaction():
                    for sql, arguments in statements:
                        await connection.executemany(sql, arguments)
        except BaseException:
            # The connection may be broken (server restarted, network cut): take a fresh one
            # for the retry.
            self._held = None
            with contextlib.suppress(Exception):
                await greenlet_spawn(held.invalidate)
            raise

    def dispose(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        if self._loop_engine is not None:
            self._loop_engine.dispose()
