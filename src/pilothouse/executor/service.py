"""One executor process, assembled from its parts: what `pilothouse executor` runs."""

from __future__ import annotations

import asyncio
import contextlib
from functools import partial
from typing import Any

from pilothouse.executor.agent import Agent
from pilothouse.executor.backoff import Backoff
from pilothouse.executor.client import AgentClient
from pilothouse.executor.config import ExecutorConfig
from pilothouse.executor.discovery import ResourceDiscovery, discover_with_kubectl, maintain_discovery
from pilothouse.executor.handler import CommandHandler
from pilothouse.executor.kubectl import Kubectl
from pilothouse.executor.tunnel import serve_tunnel
from pilothouse.observability.logging import get_logger

log = get_logger("pilothouse.executor")


async def run_executor(config: ExecutorConfig, stop: asyncio.Event) -> int:
    """Serve commands until ``stop`` is set; the process exit code."""
    kubectl = Kubectl(config.kubectl, config.kubeconfig, config.context)
    discovery = ResourceDiscovery(partial(discover_with_kubectl, kubectl))
    handler = CommandHandler(
        mode=config.security_mode,
        discovery=discovery,
        kubectl=kubectl,
        max_output_bytes=config.max_output_bytes,
    )
    log.info(
        "executor.configured",
        server=config.server_url,
        cluster_id=config.cluster_id,
        executor_id=config.executor_id,
        security_mode=str(config.security_mode),
        kubectl=config.kubectl,
    )
    async with AgentClient(
        config.server_url,
        cluster_id=config.cluster_id,
        token=config.token,
        executor_id=config.executor_id,
    ) as client:
        agent = Agent(
            client,
            handler,
            concurrency=config.concurrency,
            poll_wait_seconds=config.poll_wait_seconds,
            heartbeat_seconds=config.heartbeat_seconds,
            reconnect=Backoff(config.reconnect_initial_seconds, config.reconnect_max_seconds),
            max_unauthorized=config.max_unauthorized,
            stop=stop,
        )

        async def report(resources: list[dict[str, Any]]) -> bool:
            return await client.post_discovery(resources, inflight=agent.inflight)

        keeper = asyncio.create_task(
            maintain_discovery(discovery, report, refresh_seconds=config.discovery_refresh_seconds),
            name="executor-discovery-keeper",
        )
        # The streaming tunnel (Cluster API operations) runs beside the command long-poll.
        tunnel = asyncio.create_task(serve_tunnel(config, stop), name="executor-tunnel")
        try:
            return await agent.run()
        finally:
            stop.set()
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            with contextlib.suppress(asyncio.CancelledError):
                await tunnel
            await discovery.aclose()
