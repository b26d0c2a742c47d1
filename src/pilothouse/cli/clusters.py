"""`pilothouse clusters add|list|rotate-token|remove`: the cluster registry, straight in the database."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pilothouse.audit.service import Actor
from pilothouse.cli.offline import ConfigOption, cli_settings, open_database, run
from pilothouse.clusters.models import Cluster
from pilothouse.clusters.service import ClusterRegistry, IssuedToken
from pilothouse.policy import SecurityMode
from pilothouse.settings import Settings

clusters_app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Register clusters and manage their executor tokens."
)

_MODES = "|".join(mode.value for mode in SecurityMode)
ServerOption = Annotated[
    str | None, typer.Option("--server", help="URL executors use to reach the server (default: public_url).")
]


def _print_token(issued: IssuedToken, server: str) -> None:
    cluster = issued.cluster
    typer.echo(f"Executor token for {cluster.id} (shown only this once):")
    typer.echo(issued.token)
    typer.echo("Run the executor next to the cluster with:")
    typer.echo(f"  pilothouse executor --server {server} --cluster-id {cluster.id} --token {issued.token}")


@clusters_app.command(
    "add",
    help="Register a cluster: reached through an executor (tunnel), "
    "or with --kubeconfig by the server itself (direct).",
)
def add_cluster(
    cluster_id: Annotated[str, typer.Argument(help="Cluster id: lowercase letters, digits, inner hyphens.")],
    kubeconfig: Annotated[
        str | None, typer.Option("--kubeconfig", help="Direct cluster: the kubeconfig file the server uses.")
    ] = None,
    context: Annotated[
        str | None,
        typer.Option("--context", help="Direct cluster: the kubeconfig context (default: current)."),
    ] = None,
    security_mode: Annotated[
        str | None, typer.Option("--security-mode", help=f"{_MODES} (default: settings)")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Display name (default: the id).")] = None,
    server: ServerOption = None,
    config: ConfigOption = None,
) -> None:
    settings = cli_settings(config)

    async def work() -> Cluster | IssuedToken:
        async with open_database(settings) as database, database.session() as session:
            registry = ClusterRegistry(database, settings)
            if kubeconfig is not None:
                return await registry.add_direct(
                    session,
                    cluster_id,
                    actor=Actor.cli(),
                    kubeconfig_path=kubeconfig,
                    kube_context=context,
                    name=name,
                    security_mode=security_mode,
                )
            if context is not None:
                raise typer.BadParameter("--context needs --kubeconfig (a Direct cluster)")
            return await registry.add(
                session, cluster_id, actor=Actor.cli(), name=name, security_mode=security_mode
            )

    added = run(work())
    cluster = added.cluster if isinstance(added, IssuedToken) else added
    typer.echo(f"Registered cluster {cluster_id} ({cluster.transport}, {cluster.security_mode}).")
    if isinstance(added, IssuedToken):
        _print_token(added, server or settings.effective_public_url)


@clusters_app.command("list", help="List registered clusters.")
def list_clusters(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    settings: Settings = cli_settings(config)

    async def work() -> tuple[list[Cluster], ClusterRegistry]:
        async with open_database(settings) as database, database.session() as session:
            registry = ClusterRegistry(database, settings)
            return await registry.all_clusters(session), registry

    rows, registry = run(work())
    listing = [
        {
            "cluster_id": row.id,
            "name": row.name,
            "transport": row.transport,
            "security_mode": row.security_mode,
            "status": "connected" if registry.is_connected(row.last_seen) else "disconnected",
            "agent_version": row.agent_version,
            "last_seen": row.last_seen.isoformat() if row.last_seen else None,
        }
        for row in rows
    ]
    if as_json:
        typer.echo(json.dumps(listing, indent=2))
        return
    for item in listing:
        typer.echo(
            f"{item['cluster_id']:30}  {item['status']:12}  {item['security_mode']:16}  "
            f"{item['transport']:6}  last seen {item['last_seen'] or 'never'}"
        )


@clusters_app.command("rotate-token", help="Issue a new executor token; the old one stops working.")
def rotate_token(
    cluster_id: Annotated[str, typer.Argument()],
    server: ServerOption = None,
    config: ConfigOption = None,
) -> None:
    settings = cli_settings(config)

    async def work() -> IssuedToken:
        async with open_database(settings) as database, database.session() as session:
            registry = ClusterRegistry(database, settings)
            return await registry.rotate_token(session, cluster_id, actor=Actor.cli())

    _print_token(run(work()), server or settings.effective_public_url)


@clusters_app.command("remove", help="Forget a cluster (its history in sessions and the audit trail stays).")
def remove_cluster(cluster_id: Annotated[str, typer.Argument()], config: ConfigOption = None) -> None:
    settings = cli_settings(config)

    async def work() -> None:
        async with open_database(settings) as database, database.session() as session:
            await ClusterRegistry(database, settings).remove(session, cluster_id, actor=Actor.cli())

    run(work())
    typer.echo(f"Removed cluster {cluster_id}")
