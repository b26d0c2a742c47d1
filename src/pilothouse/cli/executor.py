"""`pilothouse executor`: the in-cluster agent that dials out to a Pilothouse server."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from pilothouse.executor.config import DEFAULT_MAX_OUTPUT_BYTES, ConfigError, ExecutorConfig, default_kubectl
from pilothouse.executor.runner import spawn_mode
from pilothouse.executor.service import run_executor
from pilothouse.observability.logging import configure_logging, get_logger
from pilothouse.policy import DEFAULT_SECURITY_MODE, SecurityMode
from pilothouse.runtime import settle_garbage_collector

_ENV = "PILOTHOUSE_EXECUTOR_"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_LOG_FORMATS = ("json", "console")


def executor_command(
    server: Annotated[
        str,
        typer.Option(envvar=f"{_ENV}SERVER", help="Base URL of the Pilothouse server.", show_default=False),
    ],
    cluster_id: Annotated[
        str,
        typer.Option(
            envvar=f"{_ENV}CLUSTER_ID", help="The cluster this executor serves.", show_default=False
        ),
    ],
    token: Annotated[
        str,
        typer.Option(
            envvar=f"{_ENV}TOKEN",
            help="Executor token (prefer the environment variable: arguments are visible in ps).",
            show_default=False,
        ),
    ],
    kubeconfig: Annotated[
        Path | None,
        typer.Option(envvar=f"{_ENV}KUBECONFIG", help="Kubeconfig for kubectl; default: in-cluster config."),
    ] = None,
    context: Annotated[str | None, typer.Option(envvar=f"{_ENV}CONTEXT", help="Kubeconfig context.")] = None,
    concurrency: Annotated[
        int, typer.Option(envvar=f"{_ENV}CONCURRENCY", min=1, help="Commands run at once.")
    ] = 4,
    security_mode: Annotated[
        SecurityMode,
        typer.Option(
            envvar=f"{_ENV}SECURITY_MODE",
            case_sensitive=False,
            help="This executor's policy mode; its verdict wins over the server's.",
        ),
    ] = DEFAULT_SECURITY_MODE,
    kubectl: Annotated[
        str | None, typer.Option(envvar=f"{_ENV}KUBECTL", help="kubectl binary; default: the bundled one.")
    ] = None,
    poll_wait: Annotated[
        int, typer.Option(envvar=f"{_ENV}POLL_WAIT", min=0, max=60, help="Long-poll seconds.")
    ] = 30,
    max_output_bytes: Annotated[
        int, typer.Option(envvar=f"{_ENV}MAX_OUTPUT_BYTES", min=1, help="Cap on each of stdout and stderr.")
    ] = DEFAULT_MAX_OUTPUT_BYTES,
    discovery_refresh: Annotated[
        float, typer.Option(envvar=f"{_ENV}DISCOVERY_REFRESH", help="Seconds between discovery refreshes.")
    ] = 300.0,
    log_level: Annotated[str, typer.Option(envvar=f"{_ENV}LOG_LEVEL", help=", ".join(_LOG_LEVELS))] = "INFO",
    log_format: Annotated[
        str, typer.Option(envvar=f"{_ENV}LOG_FORMAT", help=", ".join(_LOG_FORMATS))
    ] = "json",
) -> None:
    """Run the in-cluster agent: poll the server for commands, run them here, post the results."""
    try:
        config = ExecutorConfig(
            server_url=server,
            cluster_id=cluster_id,
            token=token,
            kubectl=kubectl or default_kubectl(),
            kubeconfig=kubeconfig.resolve() if kubeconfig else None,
            context=context,
            concurrency=concurrency,
            security_mode=security_mode,
            poll_wait_seconds=poll_wait,
            max_output_bytes=max_output_bytes,
            discovery_refresh_seconds=discovery_refresh,
        )
    except ConfigError as error:
        raise typer.BadParameter(str(error)) from None
    if log_level.upper() not in _LOG_LEVELS:
        raise typer.BadParameter(f"must be one of {', '.join(_LOG_LEVELS)}", param_hint="--log-level")
    if log_format not in _LOG_FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(_LOG_FORMATS)}", param_hint="--log-format")
    configure_logging(log_level, log_format)
    # The executor parses large lists for the tunnel; the same collector tuning as the server's.
    settle_garbage_collector()
    mode = spawn_mode()
    loop_name, run = _loop_runner()
    get_logger("pilothouse.executor").info(
        "executor.runtime", event_loop=loop_name, spawn_mode=mode.name, spawn=mode.reason
    )
    raise typer.Exit(run(_serve(config)))


def _loop_runner() -> tuple[str, Callable[[Coroutine[Any, Any, int]], int]]:
    """uvloop on Linux when it is installed: less CPU per long-poll answer, result post and tunnel
    frame. (Python 3.11's asyncio.run has no loop_factory, hence uvloop.run.)"""
    if sys.platform.startswith("linux"):
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return "uvloop", uvloop.run
    return "asyncio", asyncio.run


async def _serve(config: ExecutorConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _stopper(stop, signum))
    return await run_executor(config, stop)


def _stopper(stop: asyncio.Event, signum: signal.Signals) -> Callable[[], None]:
    def handle() -> None:
        get_logger("pilothouse.executor").info("executor.signal", signal=signum.name)
        stop.set()

    return handle
