"""Database engine setup and programmatic migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, Dialect, String, inspect, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from pilothouse.audit.clock import UtcDateTime, as_utc
from pilothouse.store import migrate
from pilothouse.store.database import NAMING_CONVENTION, Base, Database, create_engine, json_text
from pilothouse.store.migrate import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    head_revisions,
    make_revision,
    upgrade_to_head,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    if request.param == "sqlite":
        return sqlite_url
    url: str = request.getfixturevalue("postgres_url")
    return url


async def _tables(engine: AsyncEngine) -> set[str]:
    def names(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    async with engine.connect() as connection:
        return await connection.run_sync(names)


async def test_upgrade_a_fresh_database(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run from an unrelated directory: no alembic.ini or relative path may be needed.
    monkeypatch.chdir(tmp_path)
    assert await current_revision(database_url) is None

    revision = await upgrade_to_head(database_url)

    assert revision == ",".join(head_revisions())
    assert await current_revision(database_url) == revision
    engine = create_engine(database_url)
    try:
        assert "alembic_version" in await _tables(engine)
    finally:
        await engine.dispose()
    # Upgrading an up-to-date database is a no-op.
    assert await upgrade_to_head(database_url) == revision


def test_the_base_revision_is_0001() -> None:
    # Capabilities chain their first revision from "0001"; it must stay the only root.
    scripts = ScriptDirectory.from_config(alembic_config())
    assert scripts.get_bases() == ["0001"]
    assert (MIGRATIONS_DIR / "versions" / "r0001_base.py").is_file()
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()


async def test_concurrent_upgrades_on_postgres_serialise(postgres_url: str) -> None:
    # Replicas starting together: the advisory lock must make all of them succeed.
    revisions = await asyncio.gather(*(upgrade_to_head(postgres_url) for _ in range(4)))
    assert set(revisions) == {",".join(head_revisions())}


async def test_upgrade_in_memory_sqlite_through_the_open_engine() -> None:
    database = Database("sqlite+aiosqlite://")
    await database.connect()
    try:
        revision = await upgrade_to_head("sqlite+aiosqlite://", engine=database.engine)
        assert await current_revision("sqlite+aiosqlite://", engine=database.engine) == revision
    finally:
        await database.dispose()


async def test_sqlite_pragmas_are_set_on_every_connection(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    await database.connect()
    try:
        async with database.engine.connect() as connection:
            journal = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
            foreign_keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar_one()
            busy_timeout = (await connection.execute(text("PRAGMA busy_timeout"))).scalar_one()
    finally:
        await database.dispose()
    assert journal == "wal"
    assert foreign_keys == 1
    assert busy_timeout == 5000
    assert database.dialect_name == "sqlite"
    # The parent directory was created for the file.
    assert Path(database.url.database or "").is_file()


class _Scratch(DeclarativeBase):
    """Tables for these tests only, kept off the real Base.metadata."""

    metadata = Base.metadata.__class__(naming_convention=NAMING_CONVENTION)


class _Parent(_Scratch):
    __tablename__ = "scratch_parent"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


class _Document(_Scratch):
    __tablename__ = "scratch_document"
    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[Any] = mapped_column(JSON)
    at: Mapped[datetime | None] = mapped_column(UtcDateTime)


@pytest.fixture
async def scratch_database(database_url: str) -> AsyncIterator[Database]:
    """A connected ``Database`` with this module's scratch tables."""
    database = Database(database_url)
    await database.connect()
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(_Scratch.metadata.create_all)
        yield database
    finally:
        await database.dispose()


async def _add_then_fail(database: Database) -> None:
    async with database.session() as session:
        session.add(_Parent(id=2, name="discarded"))
        await session.flush()
        raise RuntimeError("abort the unit of work")


async def _add(database: Database, row: _Parent) -> None:
    async with database.session() as session:
        session.add(row)


async def test_session_commits_or_rolls_back(scratch_database: Database) -> None:
    database = scratch_database
    async with database.session() as session:
        session.add(_Parent(id=1, name="kept"))

    with pytest.raises(RuntimeError, match="abort"):
        await _add_then_fail(database)

    async with database.session() as session:
        names = (await session.execute(text("SELECT name FROM scratch_parent"))).scalars().all()
        # expire_on_commit=False: the object stays readable after its session closed.
        kept = await session.get(_Parent, 1)
    assert names == ["kept"]
    assert kept is not None
    assert kept.name == "kept"

    with pytest.raises(IntegrityError):
        await _add(database, _Parent(id=3, name="kept"))
    # The naming convention named the constraint, so a migration can drop it by name.
    async with database.engine.connect() as connection:
        constraints = await connection.run_sync(
            lambda sync: inspect(sync).get_unique_constraints("scratch_parent")
        )
    assert [constraint["name"] for constraint in constraints] == ["uq_scratch_parent_name"]


# What orjson writes, and what it refuses and json.dumps writes instead.
JSON_VALUES: list[Any] = [
    {"args": ["get", "pods", "-l", 'app="web"'], "nested": {"list": [1, 2.5, None, True, "\u00fc"]}},
    ["a", "b"],
    2**70,
    {1: "an integer key", "2": "a string key"},
    None,
]


def test_json_text_writes_what_json_dumps_writes_and_refuses_what_it_refuses() -> None:
    assert json_text({"a": [1, "\u00fc"]}) == '{"a":[1,"\u00fc"]}'
    for value in JSON_VALUES:
        assert json.loads(json_text(value)) == json.loads(json.dumps(value))
    for refused in (datetime(2026, 1, 1), _Parent(id=1, name="x"), {"when": datetime(2026, 1, 1)}):
        with pytest.raises(TypeError):
            json.dumps(refused)
        with pytest.raises(TypeError):
            json_text(refused)
    # The one difference, documented: JSON has no NaN (PostgreSQL refused json.dumps's).
    assert json_text([float("nan"), float("inf")]) == "[null,null]"


async def test_json_columns_and_utc_timestamps_round_trip(scratch_database: Database) -> None:
    database = scratch_database
    moments = [
        datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=UTC),
        datetime(2026, 11, 23, 1, 2, 3, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        datetime(2026, 11, 23, 1, 2, 3),  # naive: taken as UTC
        None,
    ]
    async with database.session() as session:
        for index, value in enumerate(JSON_VALUES):
            session.add(_Document(id=index, body=value, at=moments[index % len(moments)]))
    async with database.session() as session:
        rows = (await session.scalars(select(_Document).order_by(_Document.id))).all()
    assert [row.body for row in rows] == [json.loads(json.dumps(value)) for value in JSON_VALUES]
    for row in rows:
        moment = moments[row.id % len(moments)]
        assert row.at == (as_utc(moment) if moment is not None else None)


def test_utc_datetime_binds_on_sqlite_exactly_as_sqlalchemys_own_chain() -> None:
    """SQLite compares stored timestamps as text (retention, ordering, rows written before an
    upgrade), so the faster bind must write the very text SQLAlchemy's processors write."""

    class StockUtcDateTime(UtcDateTime):
        cache_ok = True

        def bind_processor(self, dialect: Dialect) -> Any:
            return TypeDecorator.bind_processor(self, dialect)

    dialect = sqlite.dialect()
    fast = UtcDateTime()._cached_bind_processor(dialect)
    stock = StockUtcDateTime()._cached_bind_processor(dialect)
    assert fast is not None
    assert stock is not None
    pick = random.Random(7)
    values: list[Any] = [
        None,
        datetime(1, 1, 1),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 4, 5, 6, 7),
    ]
    for _ in range(2000):
        naive = datetime(
            pick.randint(2, 9998),
            pick.randint(1, 12),
            pick.randint(1, 28),
            pick.randint(0, 23),
            pick.randint(0, 59),
            pick.randint(0, 59),
            pick.choice([0, pick.randint(0, 999_999)]),
        )
        offset = timezone(timedelta(minutes=pick.randint(-900, 900)))
        values += [naive, naive.replace(tzinfo=UTC), naive.replace(tzinfo=offset)]
    for value in values:
        assert fast(value) == stock(value), value
    assert fast(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02 03:04:05.000000"


async def test_ping_and_dialect(database_url: str) -> None:
    database = Database(database_url)
    assert not await database.ping()
    await database.connect()
    try:
        assert await database.ping()
        assert database.dialect_name in {"sqlite", "postgresql"}
    finally:
        await database.dispose()
    assert not await database.ping()


async def test_connect_fails_fast_on_an_unreachable_database() -> None:
    database = Database("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    with pytest.raises(ConnectionRefusedError):
        await database.connect()
    with pytest.raises(RuntimeError, match="connect"):
        _ = database.engine


async def test_make_revision_chains_from_the_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    # Work on a copy of the scripts: the package's own versions/ must stay untouched.
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", scripts)
    head = await upgrade_to_head(sqlite_url)
    following = f"{int(head) + 1:04d}"

    path = await asyncio.to_thread(make_revision, "add widgets", sqlite_url, autogenerate=False)

    assert path == scripts / "versions" / f"r{following}_add_widgets.py"
    # The template renders valid Python with the right identifiers.
    namespace: dict[str, object] = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)  # noqa: S102
    assert (namespace["revision"], namespace["down_revision"]) == (following, head)
    assert await upgrade_to_head(sqlite_url) == following
