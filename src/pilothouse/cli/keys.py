"""`pilothouse keys create|list|revoke`: API keys, straight in the database."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pilothouse.audit.clock import utc_now
from pilothouse.audit.service import Actor
from pilothouse.auth import service
from pilothouse.auth.principal import Scope
from pilothouse.auth.schemas import ApiKeyOut
from pilothouse.cli.offline import ConfigOption, cli_settings, open_database, run, split_list
from pilothouse.settings import Settings

keys_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Create, list and revoke API keys.")

_SCOPES = ",".join(scope.value for scope in Scope)


@keys_app.command("create", help="Create an API key and print it (it is shown only this once).")
def create_key(
    name: Annotated[str, typer.Option("--name", help="Who or what uses the key.")],
    scopes: Annotated[str, typer.Option(help=f"Comma-separated scopes: {_SCOPES}.")] = "read",
    clusters: Annotated[
        str | None, typer.Option(help="Comma-separated cluster ids the key may use (default: all).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    settings = cli_settings(config)

    async def work() -> service.CreatedKey:
        async with open_database(settings) as database, database.session() as session:
            return await service.create_key(
                session,
                name=name,
                scopes=split_list(scopes) or [],
                clusters=split_list(clusters),
                actor=Actor.cli(),
                now=utc_now(),
            )

    created = run(work())
    row = created.row
    allowed = ", ".join(row.clusters) if row.clusters is not None else "all"
    typer.echo(f"Created API key {row.id} ({row.name}); scopes: {', '.join(row.scopes)}; clusters: {allowed}")
    typer.echo("Store it now, it is not shown again:", err=True)
    typer.echo(created.plaintext)


@keys_app.command("list", help="List API keys (never their secrets).")
def list_keys(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    settings: Settings = cli_settings(config)

    async def work() -> list[ApiKeyOut]:
        async with open_database(settings) as database, database.session() as session:
            return [ApiKeyOut.of(row) for row in await service.list_keys(session)]

    keys = run(work())
    if as_json:
        typer.echo(json.dumps([key.model_dump(mode="json") for key in keys], indent=2))
        return
    for key in keys:
        allowed = ",".join(key.clusters) if key.clusters is not None else "*"
        typer.echo(f"{key.key_id}  {key.status:8}  {','.join(key.scopes):30}  clusters={allowed}  {key.name}")


@keys_app.command("revoke", help="Revoke an API key (running servers notice within the auth cache time).")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key id (the part after ph_).")],
    config: ConfigOption = None,
) -> None:
    settings = cli_settings(config)

    async def work() -> None:
        async with open_database(settings) as database, database.session() as session:
            await service.revoke_key(session, key_id, actor=Actor.cli(), now=utc_now())

    run(work())
    typer.echo(f"Revoked API key {key_id}")
