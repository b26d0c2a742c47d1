"""The executor's side of the tunnel: perform one operation with the local ``ClusterOps``.

The executor's security mode is authoritative for its cluster (the server checks too, with its
copy), and Secret values are redacted here, before anything leaves the cluster.

Stream conventions, per operation (messages are JSON unless said otherwise):

    discover, version, get, create, replace, patch, delete
        one message, the result; then END {}
    read    one message: the raw document of a GET of a collection path (a list, read and paged
            by kube.listing on the server)
    watch   one message per event {"type", "object"}; END {} when the API server ends the watch
    logs    raw log bytes, as they come
    exec    executor -> server: an empty message once started, then channel byte (1 stdout, 2 stderr) + bytes;
            server -> executor: 0 + stdin bytes, 4 + {"rows", "cols"}, 255 (end of stdin);
            END {"exit": {"exit_code", "error", "details"}}

Failures end the stream with {"error": <KubeApiError JSON>} or {"unavailable": "<reason>"}.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from pilothouse.kube.ops import (
    ClusterOps,
    ClusterUnavailable,
    ExecRequest,
    JsonObject,
    KubeApiError,
    LogQuery,
    PatchType,
    ResourceType,
    WatchQuery,
)
from pilothouse.policy import SecurityMode
from pilothouse.policy.objects import Access, ModeForbids, check_access, redact_items, redact_object
from pilothouse.tunnel.mux import Stream, TunnelClosed

UNARY_READS = frozenset({"discover", "version", "read", "get"})
# `read`: the collection paths an executor will GET for the server, and the parameters it passes.
_COLLECTION_PATH = re.compile(
    r"/api/v1(?:/namespaces/(?P<ns>[a-z0-9][a-z0-9-]{0,62}))?/(?P<core>[a-z0-9][a-z0-9.-]{0,252})"
    r"|/apis/(?P<group>[a-z0-9][a-z0-9.-]{0,252})/(?P<version>[a-z0-9]{1,32})"
    r"(?:/namespaces/(?P<gns>[a-z0-9][a-z0-9-]{0,62}))?/(?P<plural>[a-z0-9][a-z0-9.-]{0,252})"
)
_READ_PARAMETERS = frozenset({"labelSelector", "fieldSelector", "limit", "continue"})
RawReader = Callable[[str, Sequence[tuple[str, Any]]], Awaitable[bytes]]
WRITES = frozenset({"create", "replace", "patch", "delete"})
STREAMS = frozenset({"watch", "logs", "exec"})
OPERATIONS = UNARY_READS | WRITES | STREAMS

STDIN_CHANNEL, STDOUT_CHANNEL, STDERR_CHANNEL, RESIZE_CHANNEL, CLOSE_STDIN = 0, 1, 2, 4, 255
_OUTPUT_CHANNELS = {"stdout": STDOUT_CHANNEL, "stderr": STDERR_CHANNEL}


def access_of(op: str) -> Access:
    if op in WRITES:
        return Access.WRITE
    if op == "exec":
        return Access.EXEC
    return Access.READ


class OperationServer:
    """``Mux`` open-handler of an executor: one call per stream the server opens."""

    def __init__(self, ops: ClusterOps, mode: SecurityMode, *, read_raw: RawReader | None = None) -> None:
        self._ops = ops
        self._mode = mode
        self._read_raw = read_raw

    async def __call__(self, stream: Stream, op: str, args: dict[str, Any]) -> None:
        try:
            if op not in OPERATIONS:
                raise KubeApiError(400, "BadRequest", f"unknown tunnel operation {op!r}")
            check_access(
                self._mode, access_of(op), f"{op} ({args.get('resource', {}).get('plural', 'pods')})"
            )
            end = await self._perform(stream, op, args)
        except ModeForbids as exc:
            end = {"error": KubeApiError(403, "Forbidden", str(exc)).to_json()}
        except KubeApiError as exc:
            end = {"error": exc.to_json()}
        except ClusterUnavailable as exc:
            end = {"unavailable": str(exc)}
        except (KeyError, TypeError, ValueError) as exc:
            end = {"error": KubeApiError(400, "BadRequest", f"malformed {op} request: {exc}").to_json()}
        await stream.end(end)

    async def _perform(self, stream: Stream, op: str, args: dict[str, Any]) -> dict[str, Any]:
        ops = self._ops
        if op == "discover":
            await stream.send_json([resource.to_json() for resource in await ops.discover()])
            return {}
        if op == "version":
            await stream.send_json(await ops.server_version())
            return {}
        if op == "read":
            await stream.send(await self._read(args))
            return {}
        if op == "logs":
            async for chunk in ops.pod_logs(
                args["namespace"], args["name"], LogQuery.from_json(args["query"])
            ):
                await stream.send(chunk)
            return {}
        if op == "exec":
            return await self._exec(stream, args)
        resource = ResourceType.from_json(args["resource"])
        namespace = args.get("namespace")
        if op == "watch":
            async for event in ops.watch(resource, WatchQuery.from_json(args["query"])):
                await stream.send_json(
                    {"type": event.type, "object": redact_object(event.object, kind=resource.kind)}
                )
            return {}
        result: JsonObject
        if op == "get":
            result = await ops.get(resource, args["name"], namespace)
        elif op == "create":
            result = await ops.create(resource, args["body"], namespace, dry_run=bool(args.get("dry_run")))
        elif op == "replace":
            result = await ops.replace(
                resource, args["name"], args["body"], namespace, dry_run=bool(args.get("dry_run"))
            )
        elif op == "patch":
            result = await ops.patch(
                resource,
                args["name"],
                args["patch"],
                PatchType(args["patch_type"]),
                namespace,
                dry_run=bool(args.get("dry_run")),
                subresource=args.get("subresource"),
            )
        else:
            result = await ops.delete(
                resource,
                args["name"],
                namespace,
                grace_period_seconds=args.get("grace_period_seconds"),
                propagation_policy=args.get("propagation_policy"),
                dry_run=bool(args.get("dry_run")),
            )
        await stream.send_json(redact_object(result, kind=resource.kind))
        return {}

    async def _read(self, args: dict[str, Any]) -> bytes:
        """A collection document, as the API server sent it (Secrets' values redacted first)."""
        path = str(args["path"])
        match = _COLLECTION_PATH.fullmatch(path)
        params = [(str(name), value) for name, value in args.get("params") or []]
        if match is None or self._read_raw is None:
            raise KubeApiError(400, "BadRequest", f"the executor reads collection paths only, not {path!r}")
        if any(name not in _READ_PARAMETERS for name, _ in params):
            raise KubeApiError(400, "BadRequest", "unsupported list parameter")
        raw = await self._read_raw(path, params)
        if match["core"] == "secrets":
            document = orjson.loads(raw)
            document["items"] = redact_items(list(document.get("items") or []), "Secret")
            raw = orjson.dumps(document)
        return raw

    async def _exec(self, stream: Stream, args: dict[str, Any]) -> dict[str, Any]:
        session = await self._ops.pod_exec(
            args["namespace"], args["name"], ExecRequest.from_json(args["request"])
        )
        # An empty message says the exec started: the server's pod_exec returns (or raises) on it.
        await stream.send(b"")

        async def forward_input() -> None:
            while (message := await stream.receive()) is not None:
                if not message:
                    continue
                channel, payload = message[0], message[1:]
                if channel == STDIN_CHANNEL:
                    await session.write_stdin(payload)
                elif channel == RESIZE_CHANNEL:
                    size = orjson.loads(payload)
                    await session.resize(int(size["rows"]), int(size["cols"]))
                elif channel == CLOSE_STDIN:
                    await session.close_stdin()

        feeder = asyncio.create_task(forward_input())
        try:
            async for output in session.output():
                await stream.send(bytes([_OUTPUT_CHANNELS[output.channel]]) + output.data)
            exit_ = await session.wait()
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError, TunnelClosed, ValueError, KeyError):
                await feeder
            await session.close()
        return {"exit": {"exit_code": exit_.exit_code, "error": exit_.error, "details": exit_.details}}
