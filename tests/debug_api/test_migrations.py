"""Revision 0002 creates exactly the tables the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from pilothouse.store.database import Base, create_engine
from pilothouse.store.migrate import alembic_config, import_model_modules, upgrade_to_head

DEBUG_API_TABLES = {"api_keys", "clusters", "cluster_executors", "debug_sessions", "commands", "audit_events"}


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    # Only this revision's tables: other capabilities answer for theirs.
    return [diff for diff in compare_metadata(context, Base.metadata) if _table_of(diff) in DEBUG_API_TABLES]


def _table_of(diff: Any) -> str:
    """The table an Alembic autogenerate difference is about."""
    entry = diff[0] if isinstance(diff, list) else diff  # modify_* come as lists
    kind = entry[0]
    if kind in ("add_table", "remove_table"):
        return str(entry[1].name)
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        return str(entry[1].table.name)
    if kind in ("add_fk", "remove_fk"):
        return str(entry[1].parent.name)
    return str(entry[2])  # (kind, schema, table, ...) for columns


def _downgrade_to_0001(connection: Connection, database_url: str) -> None:
    config = alembic_config(database_url)
    config.attributes["connection"] = connection
    command.downgrade(config, "0001")


async def test_migration_matches_the_models(backend: dict[str, Any]) -> None:
    database_url = backend["database_url"]
    await upgrade_to_head(database_url)
    import_model_modules()
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
            assert tables >= DEBUG_API_TABLES
            assert await connection.run_sync(_differences) == []
        async with engine.begin() as connection:
            await connection.run_sync(_downgrade_to_0001, database_url)
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
        assert not DEBUG_API_TABLES & tables
    finally:
        await engine.dispose()
    assert await upgrade_to_head(database_url) >= "0002"
