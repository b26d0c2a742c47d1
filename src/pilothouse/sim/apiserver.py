"""The simulated cluster's HTTP surface: the Kubernetes REST API over Starlette.

Routing follows the real API server's URL grammar:
`/api/v1[/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]` and the same under
`/apis/{group}/{version}`. Everything that changes state goes through `ObjectService`, so
controllers and clients see one set of rules.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from pilothouse.sim import openapi, status
from pilothouse.sim.conversion import from_view, to_view
from pilothouse.sim.exec_stream import EXEC_SUBPROTOCOLS, run_exec_session
from pilothouse.sim.objects import DeleteOptions
from pilothouse.sim.patch import PatchError, apply_patch
from pilothouse.sim.printing import build_table
from pilothouse.sim.protobuf import ProtobufError, decode_kubernetes_protobuf
from pilothouse.sim.resources import ResourceType
from pilothouse.sim.selectors import FieldSelector, LabelSelector, SelectorError, check_field_selector
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import DELETED, JsonObject, StoreEvent

if TYPE_CHECKING:
    from pilothouse.sim.cluster import SimCluster

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 3 * 1024 * 1024  # the real API server's limit for a request body
BOOKMARK_INTERVAL_SECONDS = 5.0
WATCH_BATCH_EVENTS = 1000
KUBERNETES_VERSION = {
    "major": "1",
    "minor": "37",
    "emulationMajor": "1",
    "emulationMinor": "37",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "36",
    "gitVersion": "v1.37.0-pilothouse-sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-11-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def json_response(body: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


@dataclass(frozen=True)
class ApiPath:
    resource: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


class BearerTokenAuth:
    """Pure ASGI middleware: every request must carry the cluster's bearer token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = dict(scope["headers"])
            supplied = headers.get(b"authorization", b"")
            if not hmac.compare_digest(supplied, self.expected):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008, "reason": "Unauthorized"})
                    return
                response = json_response(status.unauthorized().to_status(), 401)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ApiServer:
    """Request handlers bound to one simulated cluster."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.registry = cluster.registry
        self.store = cluster.store
        self.objects = cluster.objects

    # Routing ---------------------------------------------------------------------------------

    def build_app(self, token: str | None = None) -> ASGIApp:
        routes = [
            Route("/version", self.version),
            Route("/healthz", self.health),
            Route("/readyz", self.health),
            Route("/livez", self.health),
            Route("/api", self.core_versions),
            Route("/apis", self.group_list),
            Route("/openapi/v3", self.openapi_root),
            Route("/openapi/v3/{path:path}", self.openapi_group_version),
            WebSocketRoute("/api/v1/namespaces/{namespace}/pods/{name}/exec", self.exec_pod),
            Route("/{path:path}", self.dispatch, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
        app: ASGIApp = Starlette(
            routes=routes,
            exception_handlers={StatusError: _status_error_response, Exception: _internal_error_response},
        )
        if token:
            app = BearerTokenAuth(app, token)
        return app

    async def version(self, request: Request) -> Response:
        return json_response(KUBERNETES_VERSION)

    async def health(self, request: Request) -> Response:
        return Response("ok", media_type="text/plain")

    async def core_versions(self, request: Request) -> Response:
        return json_response(self.registry.api_versions_document())

    async def group_list(self, request: Request) -> Response:
        # Aggregated discovery is declined by answering with the plain document as
        # application/json; kubectl then falls back to per-group discovery.
        return json_response(self.registry.api_group_list_document())

    async def openapi_root(self, request: Request) -> Response:
        return json_response(openapi.root_document(self.registry))

    async def openapi_group_version(self, request: Request) -> Response:
        segments = request.path_params["path"].strip("/").split("/")
        if segments[:1] == ["api"] and len(segments) == 2:
            group, version = "", segments[1]
        elif segments[:1] == ["apis"] and len(segments) == 3:
            group, version = segments[1], segments[2]
        else:
            raise status.StatusError(404, "NotFound", "the server could not find the requested resource")
        if not self.registry.in_group_version(group, version):
            raise status.StatusError(404, "NotFound", "the server could not find the requested resource")
        return json_response(openapi.group_version_document(self.registry, group, version))

    async def dispatch(self, request: Request) -> Response:
        segments = [s for s in request.path_params["path"].split("/") if s]
        if segments[:1] == ["api"] and len(segments) >= 2:
            group, version, rest = "", segments[1], segments[2:]
        elif segments[:1] == ["apis"] and len(segments) >= 3:
            group, version, rest = segments[1], segments[2], segments[3:]
        elif segments[:1] == ["apis"] and len(segments) == 2:
            if not any(g == segments[1] for g, _ in self.registry.groups()):
                raise status.StatusError(404, "NotFound", "the server could not find the requested resource")
            return json_response(self.registry.api_group_document(segments[1]))
        else:
            raise status.StatusError(404, "NotFound", "the server could not find the requested resource")
        if not any(g == group and version in vs for g, vs in self.registry.groups()):
            raise status.StatusError(404, "NotFound", "the server could not find the requested resource")
        watch_prefix = rest[:1] == ["watch"]
        if watch_prefix:
            rest = rest[1:]
        if not rest:
            if request.method != "GET":
                raise status.method_not_allowed(
                    "the server does not allow this method on the requested resource"
                )
            return json_response(self.registry.resource_list_document(group, version))
        path = self._parse_resource_path(group, version, rest)
        return await self._handle(request, path, watch_prefix)

    def _parse_resource_path(self, group: str, version: str, rest: list[str]) -> ApiPath:
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3 and self.registry.lookup(group, version, rest[2]):
            namespace, rest = rest[1], rest[2:]
        resource = self.registry.lookup(group, version, rest[0])
        if resource is None or len(rest) > 3:
            raise status.StatusError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) >= 2 else None
        subresource = rest[2] if len(rest) == 3 else None
        if (
            subresource
            and subresource not in resource.subresources
            and not (resource.kind == "Namespace" and subresource == "finalize")
        ):
            raise status.StatusError(404, "NotFound", "the server could not find the requested resource")
        if namespace is not None and not resource.namespaced:
            raise status.StatusError(404, "NotFound", "the server could not find the requested resource")
        return ApiPath(resource, namespace, name, subresource)

    async def _handle(self, request: Request, path: ApiPath, watch_prefix: bool) -> Response:
        method, query = request.method, request.query_params
        resource = path.resource
        dry_run = query.get("dryRun") == "All"
        if path.subresource == "log":
            return await self.pod_log(request, path)
        if resource.group == "metrics.k8s.io":
            if method != "GET":
                raise status.method_not_allowed("metrics are read-only")
            return self._metrics(request, path)
        if method == "GET":
            if path.name is None or watch_prefix:
                if watch_prefix or _flag(query, "watch"):
                    return self.watch(request, path)
                return self.list(request, path)
            obj = self.objects.get(resource, path.namespace or "", path.name)
            if path.subresource == "scale":
                return json_response(_scale_of(resource, obj))
            return self._object_response(request, resource, obj)
        if method == "POST":
            if path.name is not None:
                raise status.method_not_allowed("POST is not supported on a named object")
            body = from_view(resource.group, resource.kind, await self._read_body(request))
            created = self.objects.create(
                self._storage_type(resource), body, namespace=path.namespace, dry_run=dry_run
            )
            return self._object_response(request, resource, created, 201)
        if method == "DELETE":
            if path.name is None:
                return await self.delete_collection(request, path, dry_run)
            options = _delete_options(query, await self._read_body(request, required=False))
            result = self.objects.delete(resource, path.namespace or "", path.name, options, dry_run=dry_run)
            return self._object_response(request, resource, result)
        if path.name is None:
            raise status.method_not_allowed(f"{method} is not supported on a collection")
        if method == "PUT":
            body = await self._read_body(request)
            if path.subresource == "scale":
                return self._update_scale(path, body, dry_run)
            body = from_view(resource.group, resource.kind, body)
            updated = self.objects.replace(
                self._storage_type(resource),
                body,
                namespace=path.namespace,
                name=path.name,
                subresource=path.subresource,
                dry_run=dry_run,
            )
            return self._object_response(request, resource, updated)
        # PATCH
        raw = await request.body()
        _check_size(raw)
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if path.subresource == "scale":
            current = _scale_of(resource, self.objects.get(resource, path.namespace or "", path.name))
            try:
                patched = apply_patch(current, raw, content_type, "Scale", "autoscaling")
            except PatchError as err:
                raise StatusError(err.status_code, err.reason, err.message) from None
            return self._update_scale(path, patched, dry_run)
        patched_obj = self.objects.patch(
            resource,
            path.namespace or "",
            path.name,
            raw,
            content_type,
            subresource=path.subresource,
            dry_run=dry_run,
        )
        return self._object_response(request, resource, patched_obj)

    def _storage_type(self, resource: ResourceType) -> ResourceType:
        if resource.storage_group is not None and resource.storage_group != resource.group:
            stored = self.registry.lookup(resource.storage_group, "v1", resource.plural)
            assert stored is not None
            return stored
        return resource

    async def _read_body(self, request: Request, *, required: bool = True) -> Any:
        raw = await request.body()
        _check_size(raw)
        if not raw.strip():
            if required:
                raise status.bad_request("the request body is empty")
            return None
        content_type = request.headers.get("content-type", "application/json")
        if "protobuf" in content_type:
            try:
                return decode_kubernetes_protobuf(raw)
            except ProtobufError as err:
                raise status.bad_request(f"the body of the request could not be decoded: {err}") from None
        try:
            if "yaml" in content_type:
                return yaml.safe_load(raw)
            return orjson.loads(raw)
        except (orjson.JSONDecodeError, yaml.YAMLError) as err:
            raise status.bad_request(f"the body of the request could not be decoded: {err}") from None

    # Responses -------------------------------------------------------------------------------

    def _object_response(
        self, request: Request, resource: ResourceType, obj: JsonObject, status_code: int = 200
    ) -> Response:
        if obj.get("kind") == "Status":
            return json_response(obj, status_code)
        view = to_view(resource.group, resource.kind, obj)
        if _wants_table(request):
            return json_response(self._table(request, resource, [view], {}), status_code)
        return json_response(view, status_code)

    def _table(
        self, request: Request, resource: ResourceType, items: list[JsonObject], list_meta: dict[str, Any]
    ) -> dict[str, Any]:
        printer_columns = list(resource.printer_columns) if resource.printer_columns is not None else None
        return build_table(
            resource.group,
            resource.kind,
            items,
            now=self.cluster.clock.now(),
            include_object=request.query_params.get("includeObject", "Metadata"),
            list_meta=list_meta,
            printer_columns=printer_columns,
            cache_rows=True,
        )

    # List, watch, delete collection ------------------------------------------------------------

    def _selected(self, request: Request, path: ApiPath) -> list[JsonObject]:
        resource = path.resource
        items = self.store.list(resource.storage_key, path.namespace)
        if resource.storage_group is not None and resource.storage_group != resource.group:
            items = [to_view(resource.group, resource.kind, obj) for obj in items]
        labels, fields = self._selectors(request, resource)
        if labels is not None:
            items = [obj for obj in items if labels.matches(obj["metadata"].get("labels"))]
        if fields is not None:
            items = [obj for obj in items if fields.matches(obj)]
        return items

    def _selectors(
        self, request: Request, resource: ResourceType
    ) -> tuple[LabelSelector | None, FieldSelector | None]:
        query = request.query_params
        try:
            labels = LabelSelector.parse(query["labelSelector"]) if query.get("labelSelector") else None
            fields = FieldSelector.parse(query["fieldSelector"]) if query.get("fieldSelector") else None
            if fields is not None:
                check_field_selector(fields, resource.kind, resource.group)
        except SelectorError as err:
            raise status.bad_request(str(err)) from None
        return labels, fields

    def list(self, request: Request, path: ApiPath) -> Response:
        resource = path.resource
        revision = self.store.resource_version
        items = self._selected(request, path)
        list_meta: dict[str, Any] = {"resourceVersion": str(revision)}
        items = _paginate(request, items, list_meta)
        if _wants_table(request):
            return json_response(self._table(request, resource, items, list_meta))
        body = {
            "kind": resource.list_kind,
            "apiVersion": resource.api_version,
            "metadata": list_meta,
            "items": items,
        }
        return json_response(body)

    async def delete_collection(self, request: Request, path: ApiPath, dry_run: bool) -> Response:
        resource = path.resource
        options = _delete_options(request.query_params, await self._read_body(request, required=False))
        deleted = []
        for obj in self._selected(request, path):
            meta = obj["metadata"]
            try:
                self.objects.delete(
                    resource, meta.get("namespace", ""), meta["name"], options, dry_run=dry_run
                )
            except StatusError as err:
                if err.code != 404:
                    raise
            deleted.append(obj)
        return json_response(
            {
                "kind": resource.list_kind,
                "apiVersion": resource.api_version,
                "metadata": {"resourceVersion": str(self.store.resource_version)},
                "items": deleted,
            }
        )

    def watch(self, request: Request, path: ApiPath) -> Response:
        resource = path.resource
        query = request.query_params
        labels, fields = self._selectors(request, resource)
        if path.name is not None:
            fields = FieldSelector.parse(f"metadata.name={path.name}")
        since = _watch_start(query.get("resourceVersion"))
        try:
            watcher = self.store.watch(resource.storage_key, path.namespace, since)
        except StatusError as err:
            # A real API server answers 200 and sends the 410 as the stream's only event.
            body = orjson.dumps({"type": "ERROR", "object": err.to_status()}) + b"\n"
            return Response(body, media_type="application/json")
        table = _wants_table(request)
        bookmarks = _flag(query, "allowWatchBookmarks")
        send_initial = _flag(query, "sendInitialEvents") and since is None
        timeout = _int_param(query, "timeoutSeconds")
        store = self.store

        def matches(obj: JsonObject | None) -> bool:
            if obj is None:
                return False
            if labels is not None and not labels.matches(obj["metadata"].get("labels")):
                return False
            return fields is None or fields.matches(obj)

        def encode(event_type: str, obj: JsonObject) -> bytes:
            view = to_view(resource.group, resource.kind, obj)
            payload = self._table(request, resource, [view], {}) if table else view
            return orjson.dumps({"type": event_type, "object": payload}) + b"\n"

        async def stream() -> AsyncIterator[bytes]:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout if timeout else None
            last_version = since or store.resource_version
            # WatchList (sendInitialEvents=true): replay the current state, then a bookmark
            # marking its end, which client-go's reflectors wait for before they report synced.
            initial_left = watcher.backlog_size if send_initial else -1
            snapshot_version = str(store.resource_version)
            if initial_left == 0:
                yield _bookmark(resource, snapshot_version, initial_events_end=True)
            try:
                while True:
                    wait = BOOKMARK_INTERVAL_SECONDS
                    if deadline is not None:
                        wait = min(wait, deadline - loop.time())
                        if wait <= 0:
                            return
                    try:
                        first = await asyncio.wait_for(watcher.queue.get(), wait)
                    except TimeoutError:
                        if bookmarks:
                            yield _bookmark(resource, str(max(last_version, 0)))
                        continue
                    # Send whatever else is already queued in the same chunk: one write per
                    # burst instead of one per event keeps a busy watch cheap.
                    batch = [first, *_drain(watcher.queue, WATCH_BATCH_EVENTS)]
                    chunk: list[bytes] = []
                    for event in batch:
                        if event is None:
                            if chunk:
                                yield b"".join(chunk)
                            if watcher.overflowed:
                                # The real API server ends a watch whose client cannot keep up.
                                gone = status.gone("watch closed: client too slow").to_status()
                                yield orjson.dumps({"type": "ERROR", "object": gone}) + b"\n"
                            return
                        last_version = max(last_version, event.resource_version)
                        event_type, obj = _translate(event, matches)
                        if event_type:
                            chunk.append(encode(event_type, obj))
                        if initial_left > 0:
                            initial_left -= 1
                            if initial_left == 0:
                                chunk.append(_bookmark(resource, snapshot_version, initial_events_end=True))
                    if chunk:
                        yield b"".join(chunk)
            finally:
                store.stop_watch(resource.storage_key, watcher)

        return StreamingResponse(stream(), media_type="application/json")

    # Subresources ----------------------------------------------------------------------------

    def _update_scale(self, path: ApiPath, body: Any, dry_run: bool) -> Response:
        resource = path.resource
        if not isinstance(body, dict) or not isinstance(body.get("spec", {}), dict):
            raise status.bad_request("invalid Scale object")
        replicas = body.get("spec", {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise StatusError(
                422,
                "Invalid",
                f'Scale.autoscaling "{path.name}" is invalid: spec.replicas: '
                "Invalid value: must be greater than or equal to 0",
            )
        current = self.objects.get(resource, path.namespace or "", path.name or "")
        expected = (body.get("metadata") or {}).get("resourceVersion")
        if expected and expected != current["metadata"]["resourceVersion"]:
            raise status.conflict(resource.group, resource.plural, path.name or "")
        updated = {**current, "spec": {**current["spec"], "replicas": replicas}}
        saved = self.objects.replace(
            resource, updated, namespace=path.namespace, name=path.name or "", dry_run=dry_run
        )
        return json_response(_scale_of(resource, saved))

    async def pod_log(self, request: Request, path: ApiPath) -> Response:
        query = request.query_params
        pod = self.objects.get(path.resource, path.namespace or "", path.name or "")
        request_options = self.cluster.kubelet.log_request(
            pod,
            container=query.get("container"),
            previous=_flag(query, "previous"),
            tail_lines=_int_param(query, "tailLines"),
            since_seconds=_int_param(query, "sinceSeconds"),
            since_time=query.get("sinceTime"),
            timestamps=_flag(query, "timestamps"),
            limit_bytes=_int_param(query, "limitBytes"),
        )
        if _flag(query, "follow"):
            return StreamingResponse(request_options.follow(), media_type="text/plain")
        return Response(request_options.read(), media_type="text/plain")

    def _metrics(self, request: Request, path: ApiPath) -> Response:
        resource = path.resource
        metrics = self.cluster.kubelet.metrics
        if resource.kind == "NodeMetrics":
            items = metrics.node_metrics()
        else:
            items = metrics.pod_metrics(path.namespace)
        labels, _ = self._selectors(request, resource)
        if labels is not None:
            items = [m for m in items if labels.matches(m["metadata"].get("labels"))]
        if path.name is not None:
            for item in items:
                if item["metadata"]["name"] == path.name:
                    return json_response(item)
            raise status.not_found(resource.group, resource.plural, path.name)
        return json_response(
            {"kind": resource.list_kind, "apiVersion": resource.api_version, "metadata": {}, "items": items}
        )

    async def exec_pod(self, websocket: WebSocket) -> None:
        offered = websocket.scope.get("subprotocols", [])
        chosen = next((p for p in EXEC_SUBPROTOCOLS if p in offered), None)
        namespace, name = websocket.path_params["namespace"], websocket.path_params["name"]
        query = websocket.query_params
        pods = self.registry.lookup("", "v1", "pods")
        assert pods is not None
        try:
            if chosen is None:
                raise status.bad_request(f"none of the offered subprotocols {offered} is supported")
            pod = self.objects.get(pods, namespace, name)
            command = query.getlist("command")
            if not command:
                raise status.bad_request("you must specify at least 1 command")
            start = self.cluster.kubelet.exec_starter(
                pod, query.get("container"), command, tty=_flag(query, "tty")
            )
        except StatusError as err:
            await websocket.accept(subprotocol=chosen)
            await websocket.send_bytes(b"\x03" + orjson.dumps(err.to_status()))
            await websocket.close()
            return
        await websocket.accept(subprotocol=chosen)
        await run_exec_session(
            _StarletteExecSocket(websocket),
            chosen,
            start,
            stdin=_flag(query, "stdin"),
            stdout=_flag(query, "stdout", default=True),
            stderr=_flag(query, "stderr"),
            tty=_flag(query, "tty"),
        )


class _StarletteExecSocket:
    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def receive_bytes(self) -> bytes | None:
        try:
            message = await self.websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return None
        if message["type"] == "websocket.disconnect":
            return None
        data = message.get("bytes")
        if data is None and message.get("text") is not None:
            data = message["text"].encode()
        return data or b""

    async def send_bytes(self, data: bytes) -> None:
        await self.websocket.send_bytes(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        with contextlib.suppress(RuntimeError):  # already closed by the peer
            await self.websocket.close(code, reason)


async def _status_error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StatusError)
    return json_response(exc.to_status(), exc.code)


async def _internal_error_response(request: Request, exc: Exception) -> Response:
    log.exception("sim API request failed", exc_info=exc)
    error = StatusError(500, "InternalError", "an internal error occurred in the simulated API server")
    return json_response(error.to_status(), 500)


# Helpers -------------------------------------------------------------------------------------


def _wants_table(request: Request) -> bool:
    return "as=Table" in request.headers.get("accept", "")


_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})  # Go's strconv.ParseBool spellings


def _flag(query: Any, name: str, *, default: bool = False) -> bool:
    value = query.get(name)
    return default if value is None else value in _TRUE


def _check_size(raw: bytes) -> None:
    if len(raw) > MAX_BODY_BYTES:
        raise status.too_large(MAX_BODY_BYTES)


def _int_param(query: Any, name: str) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise status.bad_request(f"invalid value for {name}: {value!r}") from None


def _watch_start(resource_version: str | None) -> int | None:
    if resource_version is None or resource_version in ("", "0"):
        return None
    try:
        return int(resource_version)
    except ValueError:
        raise status.bad_request(f"invalid resource version: {resource_version}") from None


def _translate(
    event: StoreEvent, matches: Callable[[JsonObject | None], bool]
) -> tuple[str | None, JsonObject]:
    """Turn a store event into what a filtered watch shows: objects entering or leaving the
    selection are ADDED or DELETED, as the real watch cache reports them."""
    now_matches = matches(event.object) if event.type != DELETED else False
    was_matching = matches(event.previous)
    if event.type == DELETED:
        return ("DELETED" if was_matching else None), event.object
    if now_matches and was_matching:
        return "MODIFIED", event.object
    if now_matches:
        return "ADDED", event.object
    if was_matching:
        return "DELETED", event.object
    return None, event.object


def _drain(queue: asyncio.Queue[StoreEvent | None], limit: int) -> list[StoreEvent | None]:
    items: list[StoreEvent | None] = []
    while len(items) < limit:
        try:
            item = queue.get_nowait()
        except asyncio.QueueEmpty:
            break
        items.append(item)
        if item is None:
            break
    return items


def _bookmark(resource: ResourceType, version: str, *, initial_events_end: bool = False) -> bytes:
    metadata: dict[str, Any] = {"resourceVersion": version}
    if initial_events_end:
        metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
    event = {
        "type": "BOOKMARK",
        "object": {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": metadata},
    }
    return orjson.dumps(event) + b"\n"


def _paginate(request: Request, items: list[JsonObject], list_meta: dict[str, Any]) -> list[JsonObject]:
    """`limit`/`continue`: the token records the last key served, so pages resume after it."""
    query = request.query_params
    limit = _int_param(query, "limit")
    token = query.get("continue")
    if token:
        try:
            start_after = tuple(orjson.loads(base64.urlsafe_b64decode(token.encode()))["after"])
        except (ValueError, KeyError, TypeError):
            raise status.bad_request("continue key is not valid") from None
        items = [
            obj
            for obj in items
            if (obj["metadata"].get("namespace", ""), obj["metadata"]["name"]) > start_after
        ]
    if limit and limit > 0 and len(items) > limit:
        last = items[limit - 1]["metadata"]
        list_meta["continue"] = base64.urlsafe_b64encode(
            orjson.dumps({"after": [last.get("namespace", ""), last["name"]]})
        ).decode()
        list_meta["remainingItemCount"] = len(items) - limit
        items = items[:limit]
    return items


def _delete_options(query: Any, body: Any) -> DeleteOptions:
    body = body if isinstance(body, dict) else {}
    grace = body.get("gracePeriodSeconds")
    if query.get("gracePeriodSeconds") not in (None, ""):
        grace = _int_param(query, "gracePeriodSeconds")
    policy = body.get("propagationPolicy") or query.get("propagationPolicy")
    if body.get("orphanDependents") is True or _flag(query, "orphanDependents"):
        policy = "Orphan"
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise status.bad_request(f"invalid propagationPolicy: {policy}")
    preconditions = body.get("preconditions") or {}
    return DeleteOptions(policy, grace, preconditions.get("uid"), preconditions.get("resourceVersion"))


def _scale_of(resource: ResourceType, obj: JsonObject) -> JsonObject:
    if "scale" not in resource.subresources:
        raise status.StatusError(404, "NotFound", "the server could not find the requested resource")
    selector = obj.get("spec", {}).get("selector") or {}
    selector_text = str(LabelSelector.from_dict(selector)) if selector else ""
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: obj["metadata"][k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in obj["metadata"]
        },
        "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
        "status": {"replicas": obj.get("status", {}).get("replicas", 0), "selector": selector_text},
    }
