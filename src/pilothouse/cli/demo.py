"""`pilothouse demo`: everything in one command, against a simulated cluster with faults."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer

from pilothouse.sim.scenario import ScenarioError, load_scenario


def demo_command(
    port: Annotated[int, typer.Option(help="Port of the API server.")] = 8080,
    scenario: Annotated[str, typer.Option(help="Built-in scenario name or YAML file.")] = "bad-day",
    state_dir: Annotated[Path, typer.Option(help="Where the demo keeps its (throwaway) state.")] = Path(
        ".pilothouse/demo"
    ),
    seed: Annotated[int, typer.Option(help="Seed of the simulated cluster.")] = 0,
) -> None:
    from pilothouse.demo import run_demo

    try:
        load_scenario(scenario)
    except ScenarioError as err:
        raise typer.BadParameter(str(err), param_hint="--scenario") from None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_demo(port=port, scenario=scenario, state_dir=state_dir.resolve(), seed=seed))
