"""The `pilothouse` command."""

from __future__ import annotations

import typer

from pilothouse.cli.sim import sim_command

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Pilothouse: safe, audited access to Kubernetes clusters for AI agents and the people who "
    "supervise them.",
)
app.command("sim", help="Run the simulated Kubernetes cluster.")(sim_command)


@app.command("version", help="Print the Pilothouse version.")
def version() -> None:
    from pilothouse import __version__

    typer.echo(__version__)


def main() -> None:
    app()
