"""Run Alembic migrations from code: at server start, in tests, from an installed wheel.

No alembic.ini is involved; the script directory is found next to this module, so it
works wherever the package is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

import pilothouse
from pilothouse.observability.logging import get_logger
from pilothouse.store.database import create_engine

log = get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Replicas starting together serialise on this PostgreSQL advisory lock instead of
# racing to create the same tables.
_PG_LOCK_KEY = zlib.crc32(b"pilothouse.migrations")


def import_model_modules() -> list[str]:
    """Import every ``pilothouse.<capability>.models`` module so Base.metadata is complete."""
    imported: list[str] = []
    for module in pkgutil.iter_modules(pilothouse.__path__):
        if not module.ispkg:
            continue
        name = f"pilothouse.{module.name}.models"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
            imported.append(name)
    return imported


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    if database_url is not None:
        # Through attributes, not the main options: those go through configparser, which
        # would read any '%' in a password as interpolation.
        config.attributes["database_url"] = database_url
    return config


def head_revisions() -> tuple[str, ...]:
    """The head revision(s) of the scripts shipped with this package."""
    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


def _current(connection: Connection) -> str | None:
    heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(sorted(heads)) if heads else None


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    # "heads", not "head": if two capabilities' revisions ever branch, start anyway.
    command.upgrade(config, "heads")


async def upgrade_to_head(database_url: str, *, engine: AsyncEngine | None = None) -> str:
    """Upgrade the database to the newest revision and return it (several joined by ",").

    Pass ``engine`` to reuse an open engine (needed for in-memory SQLite, where a second
    engine would see a different, empty database).
    """
    own_engine = engine is None
    active = engine or create_engine(database_url, poolclass=NullPool)
    try:
        async with active.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            await connection.run_sync(_upgrade, alembic_config(database_url))
            revision = await connection.run_sync(_current)
    finally:
        if own_engine:
            await active.dispose()
    if revision is None:
        raise RuntimeError("migrations ran but the database reports no revision")
    log.info("database_migrated", revision=revision, dialect=active.dialect.name)
    return revision


async def current_revision(database_url: str, *, engine: AsyncEngine | None = None) -> str | None:
    """The database's revision(s) joined by ",", or None if it was never migrated."""
    own_engine = engine is None
    active = engine or create_engine(database_url, poolclass=NullPool)
    try:
        async with active.connect() as connection:
            return await connection.run_sync(_current)
    finally:
        if own_engine:
            await active.dispose()


def make_revision(message: str, database_url: str, *, autogenerate: bool = True) -> Path:
    """Write a new revision script (developer tool). Returns its path.

    The revision id is the next four-digit number after the current head, so file names
    sort in history order. ``database_url`` must point at a database at head.
    """
    config = alembic_config(database_url)
    config.attributes["autogenerate"] = autogenerate
    numeric = [int(head) for head in head_revisions() if re.fullmatch(r"\d+", head)]
    rev_id = f"{(max(numeric) if numeric else 0) + 1:04d}"
    script = command.revision(config, message=message, autogenerate=autogenerate, rev_id=rev_id)
    if script is None or isinstance(script, list):
        raise RuntimeError("alembic did not produce exactly one revision")
    return Path(script.path)
