"""`pilothouse tokens issue|revoke|revoked`: bearer JWTs, signed and revoked without a server.

The CLI signs with the secret the server uses: ``jwt_secret`` from the settings, else the
``jwt_secret`` file kept next to the SQLite database (the server creates it on first start,
and so does this command if it runs first). Issues and revocations are audited like those
made over HTTP; a running server notices a revocation within ``auth_cache_seconds``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer

from pilothouse.audit.clock import utc_now
from pilothouse.audit.service import Actor
from pilothouse.auth import tokens
from pilothouse.auth.principal import Scope
from pilothouse.auth.token_schemas import RevokedTokenOut, TokenIssued
from pilothouse.cli.offline import ConfigOption, cli_settings, open_database, run, split_list
from pilothouse.settings import ConfigurationError, Settings, ensure_jwt_secret

tokens_app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Issue and revoke bearer JWTs for the Cluster API."
)

_SCOPES = ",".join(scope.value for scope in Scope)
_TTL = re.compile(r"(\d+)([smhdw]?)")
_TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_ttl(value: str) -> int:
    """``3600``, ``90s``, ``30m``, ``24h``, ``7d``, ``2w`` -> seconds."""
    match = _TTL.fullmatch(value.strip().lower())
    if match is None:
        raise typer.BadParameter(f"{value!r} is not a duration like 3600, 30m, 24h or 7d")
    amount, unit = match.groups()
    return int(amount) * _TTL_UNITS[unit]


def _signing_settings(config: Path | None) -> Settings:
    settings = cli_settings(config)
    ephemeral = settings.jwt_secret is None and settings.sqlite_path is None
    try:
        signing = ensure_jwt_secret(settings)
    except ConfigurationError as exc:
        typer.echo(f"Invalid configuration: {exc}", err=True)
        raise typer.Exit(2) from None
    if ephemeral:
        # An in-memory database has no file to keep the secret beside: no server shares it.
        typer.echo("Warning: no jwt_secret configured; signing with a throwaway secret", err=True)
    return signing


@tokens_app.command("issue", help="Issue a bearer JWT and print it (it is shown only this once).")
def issue_token(
    sub: Annotated[str, typer.Option("--sub", help="Who the token acts for (user id or service name).")],
    scopes: Annotated[str, typer.Option(help=f"Comma-separated scopes: {_SCOPES}.")] = "read",
    kind: Annotated[
        str, typer.Option(help="user (24h by default), service (7d) or admin (90d, needs admin scope).")
    ] = "user",
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="The only cluster the token may use (default: all).")
    ] = None,
    namespace: Annotated[str | None, typer.Option(help="The bearer's default namespace.")] = None,
    ttl: Annotated[
        str | None, typer.Option(help="Lifetime: 3600, 30m, 24h, 7d (default: the kind's).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole answer as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    ttl_seconds = parse_ttl(ttl) if ttl is not None else None
    settings = _signing_settings(config)
    assert settings.jwt_secret is not None  # ensure_jwt_secret set it
    secret = settings.jwt_secret.get_secret_value()

    async def work() -> tokens.IssuedToken:
        async with open_database(settings) as database, database.session() as session:
            return await tokens.issue_token(
                session,
                secret=secret,
                sub=sub,
                scopes=split_list(scopes) or [],
                kind=kind,
                cluster_id=cluster,
                namespace=namespace,
                ttl_seconds=ttl_seconds,
                actor=Actor.cli(),
                now=utc_now(),
            )

    issued = run(work())
    if as_json:
        typer.echo(TokenIssued.of(issued).model_dump_json(indent=2))
        return
    claims = issued.claims
    scope = f"{claims.scope}; cluster: {claims.cluster_id or 'all'}"
    typer.echo(
        f"Issued {claims.kind.value} token {claims.jti} for {claims.sub}; scopes: {scope}; "
        f"expires {claims.expires_at.isoformat()}",
        err=True,
    )
    typer.echo("Store it now, it is not shown again:", err=True)
    typer.echo(issued.token)


@tokens_app.command(
    "revoke", help="Revoke a bearer JWT by its jti (servers notice within the auth cache time)."
)
def revoke_token(
    jti: Annotated[str, typer.Argument(help="The token's jti claim (printed by `tokens issue`).")],
    reason: Annotated[str | None, typer.Option(help="Why, for the audit trail.")] = None,
    config: ConfigOption = None,
) -> None:
    settings = cli_settings(config)

    async def work() -> RevokedTokenOut:
        async with open_database(settings) as database, database.session() as session:
            row = await tokens.revoke_token(session, jti, actor=Actor.cli(), now=utc_now(), reason=reason)
            return RevokedTokenOut.of(row)

    revoked = run(work())
    typer.echo(f"Revoked token {revoked.jti}")


@tokens_app.command("revoked", help="List revoked tokens still on record.")
def list_revoked(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    settings = cli_settings(config)

    async def work() -> list[RevokedTokenOut]:
        async with open_database(settings) as database, database.session() as session:
            return [RevokedTokenOut.of(row) for row in await tokens.list_revoked(session)]

    rows = run(work())
    if as_json:
        typer.echo(json.dumps([row.model_dump(mode="json") for row in rows], indent=2))
        return
    for row in rows:
        revoked_at = row.revoked_at.replace(microsecond=0).isoformat()
        typer.echo(f"{row.jti}  revoked {revoked_at}  by {row.revoked_by or '-'}  {row.reason or ''}")
