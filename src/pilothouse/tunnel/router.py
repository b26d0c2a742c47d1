"""``/agent/stream``: the WebSocket each executor keeps open for streaming cluster operations."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from pilothouse.clusters.dependencies import authenticate_executor_headers
from pilothouse.clusters.service import ClusterRegistry
from pilothouse.errors import ApiError
from pilothouse.observability.logging import get_logger
from pilothouse.tunnel.hub import ExecutorTunnel, TunnelHub
from pilothouse.tunnel.mux import Mux

log = get_logger(__name__)

UNAUTHORIZED_CLOSE = 4401


@asynccontextmanager
async def tunnel_lifespan(app: FastAPI) -> AsyncIterator[None]:
    hub = TunnelHub()
    app.state.tunnel_hub = hub
    yield
    await hub.close_all("the server is stopping")


router = APIRouter(tags=["executor"])


class _StarletteConnection:
    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket

    async def send(self, data: bytes) -> None:
        await self._websocket.send_bytes(data)

    async def receive(self) -> bytes | None:
        try:
            message = await self._websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return None
        if message["type"] == "websocket.disconnect":
            return None
        data = message.get("bytes")
        if data is None:
            text = message.get("text")
            data = text.encode() if isinstance(text, str) else b""
        return bytes(data)

    async def close(self, reason: str) -> None:
        if self._websocket.application_state != WebSocketState.DISCONNECTED:
            await self._websocket.close(code=1001, reason=reason[:120])


@router.websocket("/agent/stream")
async def executor_stream(websocket: WebSocket) -> None:
    """Executors dial in with their token (``Authorization: Bearer``) and ``X-Cluster-ID``; the
    server then opens streams on the connection, one per cluster operation."""
    registry: ClusterRegistry = websocket.app.state.cluster_registry
    hub: TunnelHub = websocket.app.state.tunnel_hub
    try:
        executor = await authenticate_executor_headers(websocket.headers, registry)
    except ApiError as error:
        await websocket.close(code=UNAUTHORIZED_CLOSE, reason=error.message[:120])
        return
    await websocket.accept()
    mux = Mux(_StarletteConnection(websocket), first_id=1)
    tunnel = ExecutorTunnel(
        cluster_id=executor.cluster_id,
        executor_id=executor.executor_id,
        mux=mux,
        connected_at=registry.clock(),
        version=executor.version,
    )
    await hub.attach(tunnel)
    log.info("tunnel.connected", cluster_id=executor.cluster_id, executor_id=executor.executor_id)
    try:
        await mux.run()
    finally:
        await hub.detach(tunnel)
        with contextlib.suppress(Exception):
            await mux.close("closed")
        log.info("tunnel.disconnected", cluster_id=executor.cluster_id, executor_id=executor.executor_id)
