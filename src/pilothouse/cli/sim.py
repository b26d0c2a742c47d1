"""`pilothouse sim`: serve a simulated cluster that kubectl and Kubernetes clients drive unchanged."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated

import typer

from pilothouse.runtime import settle_garbage_collector
from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.scenario import ScenarioError, builtin_scenario_names, combine, install, load_scenario
from pilothouse.sim.serving import SimServer


def sim_command(
    scenario: Annotated[
        list[str] | None,
        typer.Option("--scenario", "-s", help="Built-in scenario name or YAML file; repeatable."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 6443,
    tls: Annotated[bool, typer.Option("--tls", help="Serve HTTPS with a CA generated at start.")] = False,
    token: Annotated[str | None, typer.Option(help="Require this bearer token on every request.")] = None,
    kubeconfig_out: Annotated[Path, typer.Option(help="Where to write the kubeconfig.")] = Path(
        ".pilothouse/sim-kubeconfig"
    ),
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed for names, addresses and timing.")] = 0,
    list_scenarios: Annotated[
        bool, typer.Option("--list-scenarios", help="List built-in scenarios and exit.")
    ] = False,
) -> None:
    if list_scenarios:
        for name in builtin_scenario_names():
            typer.echo(f"{name:32} {load_scenario(name).description}")
        return
    try:
        scenarios = [load_scenario(s) for s in scenario or []]
    except ScenarioError as err:
        raise typer.BadParameter(str(err), param_hint="--scenario") from None
    if speed <= 0:
        raise typer.BadParameter("must be positive", param_hint="--speed")

    async def run() -> None:
        cluster = SimCluster(seed=seed, speed=speed)
        if scenarios:
            install(cluster, combine(scenarios))
        else:
            from pilothouse.sim.scenario import DEFAULT_NODES, NodeSpec, add_nodes

            add_nodes(cluster, [NodeSpec.from_spec(n) for n in DEFAULT_NODES])
        settle_garbage_collector()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with SimServer(
            cluster, host=host, port=port, tls=tls, token=token, kubeconfig_out=kubeconfig_out.resolve()
        ) as server:
            names = ", ".join(s.name for s in scenarios) or "none (three empty nodes)"
            typer.echo(f"Simulated cluster listening on {server.url}")
            typer.echo(f"Scenarios: {names}")
            typer.echo(f"Kubeconfig: {server.kubeconfig_path}")
            typer.echo(f"Try: kubectl --kubeconfig {server.kubeconfig_path} get pods -A")
            await stop.wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
