"""What the administrative commands share: settings from --config and the environment, and the
database opened (and migrated) directly, so they work before any server runs."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from pilothouse.errors import ApiError
from pilothouse.observability.logging import configure_logging
from pilothouse.settings import ConfigurationError, Settings, load_settings
from pilothouse.store.database import Database
from pilothouse.store.migrate import upgrade_to_head

T = TypeVar("T")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="YAML settings file (else PILOTHOUSE_CONFIG, else the environment)."),
]


def cli_settings(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **overrides)
    except (ConfigurationError, ValidationError) as exc:
        typer.echo(f"Invalid configuration: {exc}", err=True)
        raise typer.Exit(2) from None


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database_url)
    await database.connect()
    try:
        if settings.migrate_on_start:
            await upgrade_to_head(settings.database_url, engine=database.engine)
        yield database
    finally:
        await database.dispose()


def run(work: Coroutine[Any, Any, T]) -> T:
    """Run one command's work; an API error becomes a one-line message and exit status 1."""
    # Keep stdout for the command's own output (keys and tokens are printed there).
    configure_logging("WARNING", "console", stream=sys.stderr)
    try:
        return asyncio.run(work)
    except ApiError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        for item in exc.details.get("errors", ()):
            typer.echo(f"  {item.get('field')}: {item.get('message')}", err=True)
        raise typer.Exit(1) from None


def split_list(value: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]``; None stays None."""
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]
