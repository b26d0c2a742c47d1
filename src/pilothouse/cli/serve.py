"""`pilothouse serve`: the API server."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from pilothouse.app import run_server
from pilothouse.cli.offline import ConfigOption, cli_settings


def serve_command(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: settings, 8080).")] = None,
    config: ConfigOption = None,
) -> None:
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    run_server(cli_settings(config, **overrides))
