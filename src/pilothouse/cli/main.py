"""The `pilothouse` command.

Subcommands are imported only when they run: the server stack, the simulated cluster and the
executor each take seconds to import, and `pilothouse executor` or `pilothouse version` should
not pay for the others.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

# name → (module, attribute: a command function or a typer.Typer, help)
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("pilothouse.cli.demo", "demo_command", "Run the demo: simulated cluster, server and executor."),
    "sim": ("pilothouse.cli.sim", "sim_command", "Run the simulated Kubernetes cluster."),
    "serve": ("pilothouse.cli.serve", "serve_command", "Run the API server."),
    "executor": (
        "pilothouse.cli.executor",
        "executor_command",
        "Run the in-cluster agent that serves a cluster to a server.",
    ),
    "keys": ("pilothouse.cli.keys", "keys_app", "Create, list and revoke API keys."),
    "tokens": ("pilothouse.cli.tokens", "tokens_app", "Issue and revoke bearer JWTs for the Cluster API."),
    "clusters": (
        "pilothouse.cli.clusters",
        "clusters_app",
        "Register clusters and manage their executor tokens.",
    ),
    "audit": ("pilothouse.cli.audit", "audit_command", "Query the audit trail."),
    "investigate": (
        "pilothouse.cli.ai",
        "investigate_command",
        "Investigate a resource with the AI core and print the diagnosis.",
    ),
    "actions": ("pilothouse.cli.ai", "actions_app", "List, approve and reject AI-proposed actions."),
}


# Typer vendors its own click and does not re-export its Context and Command types, so the
# overrides below take them as Any rather than import a private module.
_Context = Any
_Command = Any


class LazyCommands(TyperGroup):
    def list_commands(self, ctx: _Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: _Context, cmd_name: str) -> _Command:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            self.add_command(_load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)


def _load(name: str) -> _Command:
    module, attribute, help_text = LAZY_COMMANDS[name]
    target: Any = getattr(importlib.import_module(module), attribute)
    if not isinstance(target, typer.Typer):
        single = typer.Typer(add_completion=False)
        single.command(name, help=help_text)(target)
        target = single
    command = typer.main.get_command(target)
    command.name = name
    command.help = command.help or help_text
    return command


app = typer.Typer(
    cls=LazyCommands,
    no_args_is_help=True,
    add_completion=False,
    help="Pilothouse: safe, audited access to Kubernetes clusters for AI agents and the people who "
    "supervise them.",
)


@app.callback()
def _root() -> None:
    """A callback keeps typer in group mode although only `version` is registered eagerly."""


@app.command("version", help="Print the Pilothouse version.")
def version() -> None:
    from pilothouse import __version__

    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
