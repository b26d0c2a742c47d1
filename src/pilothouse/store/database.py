"""The async database: one engine and session factory per process, SQLite or PostgreSQL.

Capabilities declare their tables on :class:`Base` (in ``pilothouse/<capability>/models.py``)
and open units of work with ``async with database.session() as session: ...``, which
commits on success and rolls back on error.

Relationships should be declared ``lazy="raise"``: an implicit lazy load in async code
fails at an arbitrary point, so every load must be explicit (``selectinload``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import orjson
from sqlalchemy import CursorResult, DateTime, MetaData, Result, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import StaticPool

# Deterministic constraint names: Alembic can only alter or drop a constraint it can
# name, and SQLite batch migrations need the names to recreate tables.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 5000


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Every timestamp is timezone-aware; naive datetimes are a bug waiting to happen
    # when SQLite and PostgreSQL disagree about them.
    type_annotation_map = {datetime: DateTime(timezone=True)}


# What orjson would write of its own that json.dumps refuses: left to json.dumps, which raises.
_AS_JSON_DUMPS_DOES = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_text(value: Any) -> str:
    """How every engine writes JSON columns: with orjson, about ten times faster than the stdlib
    (whose encoder was the writer's largest bind cost), and through ``json.dumps`` for what orjson
    refuses (integers over 64 bits, keys that are not strings, and the datetimes and dataclasses
    ``json.dumps`` refuses too). One difference: NaN and the infinities, which JSON does not have,
    are written as null (``json.dumps`` wrote them as ``NaN``, which PostgreSQL refused). Text is
    compared nowhere: the columns are only ever read back as JSON."""
    try:
        return orjson.dumps(value, default=_refuse, option=_AS_JSON_DUMPS_DOES).decode()
    except TypeError:
        return json.dumps(value)


def is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    )


def sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or is_sqlite_memory(url) or url.database is None:
        return None
    return Path(url.database).expanduser()


def sqlite_pragmas(
    *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, extra: Sequence[str] = ()
) -> Callable[[Any, Any], None]:
    """A "connect" listener setting the pragmas every Pilothouse SQLite connection has, then
    ``extra`` ones (``"name=value"``)."""

    def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # WAL lets readers proceed while one writer writes; busy_timeout makes a second
            # writer wait instead of failing at once; SQLite ignores foreign keys unless asked.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            for pragma in extra:
                cursor.execute(f"PRAGMA {pragma}")
        finally:
            cursor.close()

    return set_pragmas


def create_engine(database_url: str, *, echo: bool = False, **kwargs: Any) -> AsyncEngine:
    """An async engine with the per-dialect settings Pilothouse relies on."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    options: dict[str, Any] = {"echo": echo, "json_serializer": json_text}
    if backend == "sqlite":
        db_file = sqlite_file(url)
        if db_file is not None:
            db_file.parent.mkdir(parents=True, exist_ok=True)
        if is_sqlite_memory(url):
            # Each connection to :memory: is a different database; share one.
            options["poolclass"] = StaticPool
            options["connect_args"] = {"check_same_thread": False}
    elif backend == "postgresql":
        options["pool_pre_ping"] = True
    options.update(kwargs)
    engine = create_async_engine(url, **options)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", sqlite_pragmas())
    return engine


class Database:
    def __init__(self, database_url: str, *, echo: bool = False) -> None:
        self.url = make_url(database_url)
        self._echo = echo
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    @property
    def dialect_name(self) -> str:
        return self.url.get_backend_name()

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("Database.connect() has not been called")
        return self._engine

    @property
    def session_factory(self) -> async_sessionmaker[AsyncSession]:
        if self._sessions is None:
            raise RuntimeError("Database.connect() has not been called")
        return self._sessions

    async def connect(self) -> None:
        """Create the engine and prove the database answers (fail at start, not at first use)."""
        if self._engine is not None:
            return
        engine = create_engine(self.url.render_as_string(hide_password=False), echo=self._echo)
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine
        # expire_on_commit=False: objects stay readable after commit; in async code a
        # refresh-on-access would be an implicit (and failing) IO.
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def dispose(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
        self._engine = None
        self._sessions = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed when the block exits normally, rolled back otherwise."""
        async with self.session_factory() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> bool:
        """True if the database answers a trivial query."""
        if self._engine is None:
            return False
        try:
            async with self._engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def server_version(self) -> str:
        """The database server's version string (SQLite's library version for SQLite)."""
        query = "SELECT sqlite_version()" if self.dialect_name == "sqlite" else "SHOW server_version"
        async with self.engine.connect() as connection:
            return str((await connection.execute(text(query))).scalar_one())


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched (``Session.execute`` is typed as returning rows)."""
    return int(cast(CursorResult[Any], result).rowcount)
