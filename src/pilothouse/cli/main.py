"""The `pilothouse` command."""

from __future__ import annotations

import typer

from pilothouse.cli import audit, clusters, keys, serve
from pilothouse.cli.demo import demo_command
from pilothouse.cli.executor import executor_command
from pilothouse.cli.sim import sim_command

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Pilothouse: safe, audited access to Kubernetes clusters for AI agents and the people who "
    "supervise them.",
)
app.command("demo", help="Run the demo: simulated cluster, server and executor.")(demo_command)
app.command("sim", help="Run the simulated Kubernetes cluster.")(sim_command)
app.command("serve", help="Run the API server.")(serve.serve_command)
app.add_typer(keys.keys_app, name="keys")
app.add_typer(clusters.clusters_app, name="clusters")
app.command("audit", help="Query the audit trail.")(audit.audit_command)
app.command("executor", help="Run the in-cluster agent that serves a cluster to a server.")(executor_command)


@app.command("version", help="Print the Pilothouse version.")
def version() -> None:
    from pilothouse import __version__

    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
