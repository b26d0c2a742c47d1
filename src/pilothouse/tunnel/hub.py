"""Which executors are connected over the streaming tunnel, per cluster, in this process."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from pilothouse.tunnel.mux import Mux


@dataclass(eq=False)
class ExecutorTunnel:
    cluster_id: str
    executor_id: str
    mux: Mux
    connected_at: datetime
    version: str | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class TunnelHub:
    def __init__(self) -> None:
        self._tunnels: dict[str, list[ExecutorTunnel]] = defaultdict(list)
        self._changed = asyncio.Condition()

    async def attach(self, tunnel: ExecutorTunnel) -> None:
        async with self._changed:
            self._tunnels[tunnel.cluster_id].append(tunnel)
            self._changed.notify_all()

    async def detach(self, tunnel: ExecutorTunnel) -> None:
        async with self._changed:
            tunnels = self._tunnels.get(tunnel.cluster_id, [])
            if tunnel in tunnels:
                tunnels.remove(tunnel)
            if not tunnels:
                self._tunnels.pop(tunnel.cluster_id, None)
            tunnel.closed.set()
            self._changed.notify_all()

    def pick(self, cluster_id: str) -> ExecutorTunnel | None:
        """The least busy live tunnel of the cluster, if any."""
        live = [tunnel for tunnel in self._tunnels.get(cluster_id, []) if not tunnel.mux.closed]
        return min(live, key=lambda tunnel: tunnel.mux.open_streams, default=None)

    def connected(self, cluster_id: str) -> list[ExecutorTunnel]:
        return [tunnel for tunnel in self._tunnels.get(cluster_id, []) if not tunnel.mux.closed]

    async def wait_connected(self, cluster_id: str, within: float) -> bool:
        """Whether a tunnel of the cluster is (or becomes, within ``within`` seconds) connected."""
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.pick(cluster_id) is not None), within
                )
            except TimeoutError:
                return False
        return True

    async def close_all(self, reason: str) -> None:
        for tunnels in list(self._tunnels.values()):
            for tunnel in list(tunnels):
                await tunnel.mux.close(reason)
