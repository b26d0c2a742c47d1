"""WebSocket ``/api/v1/ws``: subscribe to changes of a kind (namespace, label selector)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from pilothouse.auth.dependencies import authenticate_websocket, reject_websocket
from pilothouse.auth.principal import Principal, Scope
from pilothouse.contexts.dependencies import target_for
from pilothouse.contexts.service import ClusterTarget
from pilothouse.errors import ApiError, utc_timestamp
from pilothouse.kube.errors import kube_errors
from pilothouse.policy.objects import Access, ModeForbids, check_access
from pilothouse.ratelimit.service import LimitCategory
from pilothouse.watch.service import SharedWatch, Subscriber, WatchHub, encode

# Close codes in the private range: the reason says the rest.
SLOW_CONSUMER_CLOSE = 4008
MAX_SUBSCRIPTIONS = 64
MAX_MESSAGE_BYTES = 64 * 1024


@asynccontextmanager
async def watch_lifespan(app: FastAPI) -> AsyncIterator[None]:
    hub = WatchHub()
    app.state.watch_hub = hub
    yield
    await hub.close()


router = APIRouter(prefix="/api/v1", tags=["watch"])


class _Client:
    """One WebSocket: its subscriptions, and one outbox shared by all of them."""

    def __init__(
        self, websocket: WebSocket, hub: WatchHub, target: ClusterTarget, principal: Principal
    ) -> None:
        self.websocket = websocket
        self.hub = hub
        self.target = target
        self.principal = principal
        self.outbox: asyncio.Queue[str] = asyncio.Queue(
            maxsize=websocket.app.state.settings.watch_queue_messages
        )
        self.subscriptions: dict[str, tuple[SharedWatch, Subscriber]] = {}
        self.overflow: str | None = None
        self.overflowed = asyncio.Event()

    def _overflow(self, reason: str) -> None:
        self.overflow = reason
        self.overflowed.set()

    async def reply(self, message: dict[str, Any]) -> None:
        # Control replies wait for room rather than count as falling behind.
        await self.outbox.put(encode({**message, "timestamp": utc_timestamp()}))

    async def handle(self, raw: str | bytes) -> None:
        if len(raw) > MAX_MESSAGE_BYTES:
            await self.reply({"type": "ERROR", "error": "message too large"})
            return
        try:
            message = orjson.loads(raw)
            if not isinstance(message, dict):
                raise ValueError("not an object")
        except ValueError:
            await self.reply({"type": "ERROR", "error": "messages must be JSON objects"})
            return
        action = message.get("action")
        subscription_id = str(message.get("subscription_id") or "")[:128]
        if action == "subscribe":
            await self.subscribe(message, subscription_id or f"sub-{len(self.subscriptions) + 1}")
        elif action == "unsubscribe":
            await self.unsubscribe(subscription_id)
            await self.reply({"type": "UNSUBSCRIBED", "subscription_id": subscription_id})
        elif action == "ping":
            await self.reply({"type": "PONG"})
        else:
            await self.reply(
                {
                    "type": "ERROR",
                    "subscription_id": subscription_id or None,
                    "error": f"unknown action {action!r}",
                }
            )

    async def subscribe(self, message: dict[str, Any], subscription_id: str) -> None:
        kind = message.get("resource_kind") or message.get("kind")
        namespace = message.get("namespace") or None
        selector = message.get("label_selector") or None
        if subscription_id in self.subscriptions:
            await self.reply(
                {
                    "type": "ERROR",
                    "subscription_id": subscription_id,
                    "error": "subscription_id already in use",
                }
            )
            return
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            await self.reply(
                {
                    "type": "ERROR",
                    "subscription_id": subscription_id,
                    "error": f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection",
                }
            )
            return
        if not isinstance(kind, str) or not kind:
            await self.reply(
                {"type": "ERROR", "subscription_id": subscription_id, "error": "resource_kind is required"}
            )
            return
        try:
            with kube_errors(self.target.id):
                resource = await self.target.resolver.resolve(kind)
            check_access(self.target.security_mode, Access.READ, f"watching {resource.plural}")
        except (ApiError, ModeForbids) as error:
            detail = error.message if isinstance(error, ApiError) else str(error)
            await self.reply({"type": "ERROR", "subscription_id": subscription_id, "error": detail})
            return
        subscriber = Subscriber(subscription_id, self.outbox, self._overflow)
        watch = self.hub.subscribe(self.target.id, self.target.ops, resource, namespace, selector, subscriber)
        self.subscriptions[subscription_id] = (watch, subscriber)
        await self.reply(
            {
                "type": "SUBSCRIBED",
                "subscription_id": subscription_id,
                "resource_kind": resource.kind,
                "namespace": namespace,
                "label_selector": selector,
            }
        )

    async def unsubscribe(self, subscription_id: str) -> None:
        entry = self.subscriptions.pop(subscription_id, None)
        if entry is not None:
            await self.hub.unsubscribe(*entry)

    async def close(self) -> None:
        for subscription_id in list(self.subscriptions):
            await self.unsubscribe(subscription_id)

    async def send_loop(self) -> None:
        while True:
            await self.websocket.send_text(await self.outbox.get())


@router.websocket("/ws")
async def watch_socket(websocket: WebSocket) -> None:
    """Subscribe with ``{"action": "subscribe", "resource_kind": "Pod", "namespace": ...,
    "label_selector": ..., "subscription_id": ...}``; receive ADDED/MODIFIED/DELETED/ERROR."""
    state = websocket.app.state
    try:
        principal = await authenticate_websocket(websocket, Scope.READ, LimitCategory.CLUSTER_READ)
        target = await target_for(websocket, principal, state.cluster_targets, state.access_guard)
    except ApiError as error:
        await reject_websocket(websocket, error)
        return
    await websocket.accept()
    client = _Client(websocket, state.watch_hub, target, principal)
    sender = asyncio.create_task(client.send_loop())
    overflow = asyncio.create_task(client.overflowed.wait())
    try:
        while True:
            receive = asyncio.create_task(websocket.receive())
            done, _ = await asyncio.wait({receive, sender, overflow}, return_when=asyncio.FIRST_COMPLETED)
            if receive not in done:
                receive.cancel()
                break
            message = receive.result()
            if message["type"] == "websocket.disconnect":
                break
            await client.handle(message.get("text") or message.get("bytes") or b"")
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        overflow.cancel()
        with contextlib.suppress(BaseException):
            await sender
        await client.close()
        if websocket.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(Exception):
                if client.overflow is not None:
                    await websocket.close(code=SLOW_CONSUMER_CLOSE, reason=client.overflow[:120])
                else:
                    await websocket.close()
