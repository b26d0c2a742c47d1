"""The executor's streaming tunnel: one WebSocket to ``/agent/stream`` carrying cluster operations.

The server opens a stream per operation (a list, a watch, a log follow, an exec); this side
performs it with the local Direct adapter (:class:`~pilothouse.tunnel.operations.OperationServer`).
The connection is re-established with jittered back-off for as long as the executor runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from pathlib import Path

import websockets
from websockets.asyncio.client import ClientConnection

from pilothouse import __version__
from pilothouse.executor import protocol
from pilothouse.executor.backoff import Backoff
from pilothouse.executor.config import ExecutorConfig
from pilothouse.kube.direct import DirectClusterOps
from pilothouse.kube.ops import ClusterUnavailable
from pilothouse.observability.logging import get_logger
from pilothouse.policy import SecurityMode
from pilothouse.tunnel.mux import Mux
from pilothouse.tunnel.operations import OperationServer

log = get_logger("pilothouse.executor.tunnel")

STREAM_PATH = "/agent/stream"
# Frames are at most a quarter MiB (tunnel.mux.CHUNK) plus a header.
MAX_MESSAGE_BYTES = 1024 * 1024
UNAUTHORIZED_CLOSE = 4401


def stream_url(server_url: str) -> str:
    base = server_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base.removeprefix("https://") + STREAM_PATH
    return "ws://" + base.removeprefix("http://") + STREAM_PATH


class _WebSocketConnection:
    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket

    async def send(self, data: bytes) -> None:
        await self._socket.send(data)

    async def receive(self) -> bytes | None:
        try:
            message = await self._socket.recv()
        except websockets.ConnectionClosed:
            return None
        return message if isinstance(message, bytes) else message.encode()

    async def close(self, reason: str) -> None:
        await self._socket.close(reason=reason[:120])


class TunnelClient:
    def __init__(
        self,
        server_url: str,
        *,
        cluster_id: str,
        token: str,
        executor_id: str,
        ops: DirectClusterOps,
        mode: SecurityMode,
        reconnect: Backoff,
    ) -> None:
        self._url = stream_url(server_url)
        self._headers = {
            protocol.AUTHORIZATION: f"Bearer {token}",
            protocol.CLUSTER_ID: cluster_id,
            protocol.EXECUTOR_ID: executor_id,
            protocol.EXECUTOR_VERSION: __version__,
        }
        self._server = OperationServer(ops, mode, read_raw=ops.read_raw)
        self._reconnect = reconnect
        self._mux: Mux | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self._serve_once(stop)
                self._reconnect.reset()
            except (OSError, websockets.WebSocketException, TimeoutError, ssl.SSLError) as error:
                delay = self._reconnect.next_delay()
                log.warning(
                    "executor.tunnel.unavailable",
                    error=str(error) or type(error).__name__,
                    retry_in=round(delay, 2),
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)

    async def _serve_once(self, stop: asyncio.Event) -> None:
        async with websockets.connect(
            self._url,
            additional_headers=self._headers,
            max_size=MAX_MESSAGE_BYTES,
            open_timeout=10,
            ping_interval=20,
            ping_timeout=20,
            # The mux does its own flow control per stream; don't let the library's queue stall all.
            max_queue=64,
            # No permessage-deflate: compressing every list document cost more CPU (executor and
            # server) than the bandwidth it saved between an executor and its server.
            compression=None,
        ) as socket:
            mux = Mux(_WebSocketConnection(socket), on_open=self._server)
            self._mux = mux
            log.info("executor.tunnel.connected", url=self._url)
            runner = asyncio.create_task(mux.run())
            stopper = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopper.cancel()
                if not runner.done():
                    await mux.close("the executor is stopping")
                    runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner
                self._mux = None
            if socket.close_code == UNAUTHORIZED_CLOSE:
                raise websockets.InvalidHandshake("the server refused this executor's token")
            log.info("executor.tunnel.disconnected", code=socket.close_code, reason=socket.close_reason)


async def local_cluster_ops(kubeconfig: Path | None, context: str | None) -> DirectClusterOps:
    """The executor's own cluster: the kubeconfig it was given (or $KUBECONFIG, ~/.kube/config),
    else the in-cluster service account."""
    # One stat at start-up; not worth a thread.
    has_default = Path("~/.kube/config").expanduser().exists()  # noqa: ASYNC240
    if kubeconfig is not None or os.environ.get("KUBECONFIG") or has_default:
        return await DirectClusterOps.from_kubeconfig(str(kubeconfig) if kubeconfig else None, context)
    return DirectClusterOps.in_cluster()


async def serve_tunnel(config: ExecutorConfig, stop: asyncio.Event) -> None:
    """Keep the tunnel up until ``stop``; without cluster credentials, log why and do without."""
    try:
        ops = await local_cluster_ops(config.kubeconfig, config.context)
    except ClusterUnavailable as error:
        log.error("executor.tunnel.no_cluster_access", error=str(error))
        return
    client = TunnelClient(
        config.server_url,
        cluster_id=config.cluster_id,
        token=config.token,
        executor_id=config.executor_id,
        ops=ops,
        mode=config.security_mode,
        reconnect=Backoff(config.reconnect_initial_seconds, config.reconnect_max_seconds),
    )
    try:
        await client.run(stop)
    finally:
        await ops.close()
