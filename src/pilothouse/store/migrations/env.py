"""Alembic environment for Pilothouse (async engines; batch mode so SQLite can ALTER).

Run programmatically by pilothouse.store.migrate, which passes an open connection in
``config.attributes["connection"]``; without one (a plain ``alembic`` command) it opens
its own async engine from ``config.attributes["database_url"]``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from pilothouse.store.database import Base, create_engine
from pilothouse.store.migrate import import_model_modules

config = context.config

# Autogenerate can only see tables whose models have been imported. Upgrades run the
# scripts alone and must not depend on every capability package importing cleanly.
if config.attributes.get("autogenerate"):
    import_model_modules()
target_metadata = Base.metadata


def _database_url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: set config.attributes['database_url']")
    return str(url)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # Batch mode turns ALTERs SQLite cannot do into copy-and-move; on PostgreSQL it
        # emits plain ALTERs, so one migration script serves both.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    engine = create_engine(_database_url(), poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _run_offline() -> None:
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
elif (connection := config.attributes.get("connection")) is not None:
    _run(connection)
else:
    asyncio.run(_run_with_own_engine())
