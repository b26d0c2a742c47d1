"""The Tunnel adapter: ``ClusterOps`` performed by the cluster's executor over its WebSocket."""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson

from pilothouse.kube.listing import list_page
from pilothouse.kube.ops import (
    ClusterUnavailable,
    ExecExit,
    ExecOutput,
    ExecRequest,
    ExecSession,
    JsonObject,
    KubeApiError,
    ListPage,
    ListQuery,
    LogQuery,
    PatchType,
    ResourceType,
    WatchEvent,
    WatchQuery,
)
from pilothouse.tunnel.hub import TunnelHub
from pilothouse.tunnel.mux import Stream, TunnelClosed
from pilothouse.tunnel.operations import (
    CLOSE_STDIN,
    RESIZE_CHANNEL,
    STDERR_CHANNEL,
    STDIN_CHANNEL,
    STDOUT_CHANNEL,
)


def _raise_for_end(end: dict[str, Any] | None) -> None:
    if not end:
        return
    if "error" in end and isinstance(end["error"], dict):
        raise KubeApiError.from_json(end["error"])
    if "unavailable" in end:
        raise ClusterUnavailable(str(end["unavailable"]))


class TunnelClusterOps:
    def __init__(self, hub: TunnelHub, cluster_id: str) -> None:
        self._hub = hub
        self.cluster_id = cluster_id

    async def _open(self, op: str, args: dict[str, Any]) -> Stream:
        tunnel = self._hub.pick(self.cluster_id)
        if tunnel is None:
            raise ClusterUnavailable(
                f"no executor of cluster {self.cluster_id} is connected to the streaming tunnel"
            )
        try:
            return await tunnel.mux.open(op, args)
        except TunnelClosed as exc:
            raise ClusterUnavailable(f"the tunnel to cluster {self.cluster_id} closed: {exc}") from exc

    @contextlib.asynccontextmanager
    async def _stream(self, op: str, args: dict[str, Any]) -> AsyncIterator[Stream]:
        stream = await self._open(op, args)
        try:
            yield stream
        finally:
            if stream.end_payload is None:
                await stream.cancel()

    async def _messages(self, op: str, args: dict[str, Any]) -> AsyncIterator[bytes]:
        async with self._stream(op, args) as stream:
            while (message := await stream.receive()) is not None:
                yield message
            _raise_for_end(stream.end_payload)

    async def _call(self, op: str, args: dict[str, Any]) -> Any:
        result: bytes | None = None
        async for message in self._messages(op, args):
            result = message
        if result is None:
            raise ClusterUnavailable(f"the executor of {self.cluster_id} sent no result for {op}")
        return orjson.loads(result)

    # --- ClusterOps ---------------------------------------------------------------------------

    async def discover(self) -> Sequence[ResourceType]:
        return [ResourceType.from_json(entry) for entry in await self._call("discover", {})]

    async def server_version(self) -> JsonObject:
        result: JsonObject = await self._call("version", {})
        return result

    async def list(self, resource: ResourceType, query: ListQuery) -> ListPage:
        # The same reads as the Direct adapter, their raw documents carried over the tunnel: the
        # executor forwards bytes, and they are parsed once, here.
        return await list_page(self._read, resource, query)

    async def _read(self, path: str, params: Sequence[tuple[str, Any]]) -> JsonObject:
        document: JsonObject = await self._call(
            "read", {"path": path, "params": [list(item) for item in params]}
        )
        return document

    async def get(self, resource: ResourceType, name: str, namespace: str | None = None) -> JsonObject:
        result: JsonObject = await self._call(
            "get", {"resource": resource.to_json(), "name": name, "namespace": namespace}
        )
        return result

    async def create(
        self, resource: ResourceType, body: JsonObject, namespace: str | None = None, *, dry_run: bool = False
    ) -> JsonObject:
        result: JsonObject = await self._call(
            "create",
            {"resource": resource.to_json(), "body": body, "namespace": namespace, "dry_run": dry_run},
        )
        return result

    async def replace(
        self,
        resource: ResourceType,
        name: str,
        body: JsonObject,
        namespace: str | None = None,
        *,
        dry_run: bool = False,
    ) -> JsonObject:
        result: JsonObject = await self._call(
            "replace",
            {
                "resource": resource.to_json(),
                "name": name,
                "body": body,
                "namespace": namespace,
                "dry_run": dry_run,
            },
        )
        return result

    async def patch(
        self,
        resource: ResourceType,
        name: str,
        patch: JsonObject | builtins.list[Any],
        patch_type: PatchType,
        namespace: str | None = None,
        *,
        dry_run: bool = False,
        subresource: str | None = None,
    ) -> JsonObject:
        result: JsonObject = await self._call(
            "patch",
            {
                "resource": resource.to_json(),
                "name": name,
                "patch": patch,
                "patch_type": patch_type.value,
                "namespace": namespace,
                "dry_run": dry_run,
                "subresource": subresource,
            },
        )
        return result

    async def delete(
        self,
        resource: ResourceType,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        dry_run: bool = False,
    ) -> JsonObject:
        result: JsonObject = await self._call(
            "delete",
            {
                "resource": resource.to_json(),
                "name": name,
                "namespace": namespace,
                "grace_period_seconds": grace_period_seconds,
                "propagation_policy": propagation_policy,
                "dry_run": dry_run,
            },
        )
        return result

    async def watch(self, resource: ResourceType, query: WatchQuery) -> AsyncIterator[WatchEvent]:
        async for message in self._messages(
            "watch", {"resource": resource.to_json(), "query": query.to_json()}
        ):
            event = orjson.loads(message)
            yield WatchEvent(event["type"], event["object"])

    async def pod_logs(self, namespace: str, name: str, query: LogQuery) -> AsyncIterator[bytes]:
        async for chunk in self._messages(
            "logs", {"namespace": namespace, "name": name, "query": query.to_json()}
        ):
            yield chunk

    async def pod_exec(self, namespace: str, name: str, request: ExecRequest) -> ExecSession:
        stream = await self._open(
            "exec", {"namespace": namespace, "name": name, "request": request.to_json()}
        )
        # The executor answers an empty message once the exec runs, or ends the stream with why not.
        if await stream.receive() is None:
            _raise_for_end(stream.end_payload)
            raise ClusterUnavailable(f"the executor of {self.cluster_id} could not start the exec")
        return TunnelExecSession(stream)

    async def close(self) -> None:
        """Nothing to release: the tunnel belongs to the executor's connection."""


class TunnelExecSession:
    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    async def output(self) -> AsyncIterator[ExecOutput]:
        while (message := await self._stream.receive()) is not None:
            if not message:
                continue
            if message[0] == STDOUT_CHANNEL:
                yield ExecOutput("stdout", message[1:])
            elif message[0] == STDERR_CHANNEL:
                yield ExecOutput("stderr", message[1:])

    async def write_stdin(self, data: bytes) -> None:
        await self._send(bytes([STDIN_CHANNEL]) + data)

    async def close_stdin(self) -> None:
        await self._send(bytes([CLOSE_STDIN]))

    async def resize(self, rows: int, cols: int) -> None:
        await self._send(bytes([RESIZE_CHANNEL]) + orjson.dumps({"rows": rows, "cols": cols}))

    async def _send(self, message: bytes) -> None:
        if self._stream.end_payload is None:
            with contextlib.suppress(TunnelClosed):
                await self._stream.send(message)

    async def wait(self) -> ExecExit:
        async for _ in self.output():
            pass
        end = self._stream.end_payload or {}
        if "exit" in end:
            exit_ = end["exit"]
            return ExecExit(
                exit_code=exit_.get("exit_code"), error=exit_.get("error"), details=exit_.get("details") or {}
            )
        _raise_for_end(end)
        return ExecExit(exit_code=None, error="the exec stream ended without an exit status")

    async def close(self) -> None:
        if self._stream.end_payload is None:
            await self._stream.cancel()
