"""`pilothouse audit`: query the audit trail, straight in the database."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Annotated

import typer

from pilothouse.audit.clock import as_utc, utc_now
from pilothouse.audit.schemas import AuditEventOut
from pilothouse.audit.service import AuditQuery, search
from pilothouse.cli.offline import ConfigOption, cli_settings, open_database, run

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_moment(value: str, *, now: datetime) -> datetime:
    """``30m``, ``1h``, ``2d`` (that long ago) or an ISO 8601 time (UTC unless it says)."""
    match = _DURATION.fullmatch(value.strip())
    if match is not None:
        amount, unit = match.groups()
        return now - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is neither a duration like 1h nor an ISO 8601 time") from None


def audit_command(
    cluster: Annotated[str | None, typer.Option("--cluster", help="Only this cluster.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Start: a duration ago (30m, 1h, 2d) or an ISO time.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="End, exclusive: a duration ago or an ISO time.")] = None,
    principal: Annotated[str | None, typer.Option(help="Key id, key name or service identity.")] = None,
    action: Annotated[str | None, typer.Option(help="e.g. command.execute, or command for all.")] = None,
    outcome: Annotated[str | None, typer.Option(help="success, failure, timeout or denied.")] = None,
    correlation_id: Annotated[str | None, typer.Option("--correlation-id")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    config: ConfigOption = None,
) -> None:
    settings = cli_settings(config)
    now = utc_now()
    query = AuditQuery(
        cluster_id=cluster,
        principal=principal,
        action=action,
        outcome=outcome,
        correlation_id=correlation_id,
        since=parse_moment(since, now=now) if since else None,
        until=parse_moment(until, now=now) if until else None,
        limit=limit,
    )

    async def work() -> tuple[list[AuditEventOut], int]:
        async with open_database(settings) as database, database.session() as session:
            events, total = await search(session, query)
            return [AuditEventOut.model_validate(event) for event in events], total

    events, total = run(work())
    if as_json:
        for event in events:
            typer.echo(json.dumps(event.model_dump(mode="json")))
        return
    for event in events:
        who = event.principal_name or event.key_id or "-"
        what = " ".join(event.args) if event.args else (event.reason or "")
        duration = f" {event.duration_ms}ms" if event.duration_ms is not None else ""
        typer.echo(
            f"{event.occurred_at.isoformat(timespec='seconds')}  {event.action:20}  {event.outcome:8}  "
            f"{event.cluster_id or '-':20}  {who:20}{duration}  {what}"
        )
    if total > len(events):
        typer.echo(f"({len(events)} of {total} shown; use --limit)", err=True)
