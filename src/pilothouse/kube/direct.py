"""The Direct adapter: ``ClusterOps`` over a kubeconfig context (or in-cluster config).

kubernetes_asyncio loads the configuration (certificates, tokens, exec plugins, refresh) and owns
the HTTP session; requests go through ``ApiClient.call_api`` with ``_preload_content=False``, so
bodies are read once and parsed with orjson rather than turned into generated model classes: a
list of 5,000 pods is returned as the API server sent it.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any

import aiohttp
import orjson
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config import load_incluster_config, load_kube_config
from kubernetes_asyncio.stream import WsApiClient

from pilothouse.kube.exec_session import ChannelExecSession
from pilothouse.kube.listing import list_page
from pilothouse.kube.ops import (
    ClusterUnavailable,
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

REQUEST_TIMEOUT_SECONDS = 60.0
CONNECT_TIMEOUT_SECONDS = 10.0
EXEC_SUBPROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
_AUTH = ["BearerToken"]


class DirectClusterOps:
    """``ClusterOps`` talking to the API server itself. Create with :meth:`from_kubeconfig`."""

    def __init__(self, configuration: Configuration) -> None:
        # Watches and log follows hold connections for minutes; the pool must not run dry.
        configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize, 256)
        self.configuration = configuration
        self._api = ApiClient(configuration)
        self._ws: WsApiClient | None = None

    @classmethod
    async def from_kubeconfig(cls, path: str | None, context: str | None = None) -> DirectClusterOps:
        configuration = Configuration()
        try:
            await load_kube_config(config_file=path, context=context, client_configuration=configuration)
        except Exception as exc:  # the loader raises ConfigException, OSError, YAML errors
            raise ClusterUnavailable(f"cannot load kubeconfig {path or '~/.kube/config'}: {exc}") from exc
        return cls(configuration)

    @classmethod
    def in_cluster(cls) -> DirectClusterOps:
        configuration = Configuration()
        try:
            load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except Exception as exc:
            raise ClusterUnavailable(f"not running in a cluster: {exc}") from exc
        return cls(configuration)

    @property
    def server(self) -> str:
        return str(self.configuration.host)

    async def close(self) -> None:
        await self._api.close()
        if self._ws is not None:
            await self._ws.close()

    async def __aenter__(self) -> DirectClusterOps:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # --- plumbing -------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _response(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, Any]] = (),
        *,
        body: Any = None,
        content_type: str = "application/json",
        client_timeout: aiohttp.ClientTimeout | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            response: aiohttp.ClientResponse = await self._api.call_api(
                path,
                method,
                query_params=[(key, value) for key, value in query if value is not None],
                header_params=headers,
                body=body,
                auth_settings=_AUTH,
                _preload_content=False,
                _request_timeout=client_timeout
                or aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ClusterUnavailable(f"{self.server} is not reachable: {exc or type(exc).__name__}") from exc
        try:
            if response.status >= 400:
                raw = await response.read()
                raise KubeApiError.from_status(response.status, _json_or_none(raw))
            yield response
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ClusterUnavailable(
                f"{self.server}: the connection failed: {exc or type(exc).__name__}"
            ) from exc
        finally:
            if response.content.at_eof():
                response.release()
            else:
                # A stream left unread (a watch the caller stopped): the connection cannot be reused.
                response.close()

    async def _json(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, Any]] = (),
        *,
        body: Any = None,
        content_type: str = "application/json",
    ) -> JsonObject:
        async with self._response(method, path, query, body=body, content_type=content_type) as response:
            raw = await response.read()
        parsed = _json_or_none(raw)
        if parsed is None:
            raise KubeApiError(502, "BadGateway", f"{path}: the API server's answer is not a JSON object")
        return parsed

    # --- discovery ------------------------------------------------------------------------------

    async def server_version(self) -> JsonObject:
        return await self._json("GET", "/version")

    async def discover(self) -> Sequence[ResourceType]:
        core, groups = await asyncio.gather(self._json("GET", "/api"), self._json("GET", "/apis"))
        group_versions: list[tuple[str, str]] = [("", version) for version in core.get("versions") or ["v1"]][
            :1
        ]
        for group in groups.get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("version")
            if preferred:
                group_versions.append((str(group["name"]), str(preferred)))
        documents = await asyncio.gather(
            *(self._resource_list(group, version) for group, version in group_versions)
        )
        return [resource for document in documents for resource in document]

    async def _resource_list(self, group: str, version: str) -> list[ResourceType]:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            document = await self._json("GET", path)
        except KubeApiError:
            # An aggregated API that is down (metrics-server, say) must not hide the rest.
            return []
        return [
            ResourceType(
                group=group,
                version=version,
                plural=str(entry["name"]),
                kind=str(entry.get("kind") or ""),
                namespaced=bool(entry.get("namespaced")),
                singular=str(entry.get("singularName") or ""),
                short_names=tuple(entry.get("shortNames") or ()),
                verbs=tuple(entry.get("verbs") or ()),
                categories=tuple(entry.get("categories") or ()),
            )
            for entry in document.get("resources") or []
            if "/" not in str(entry.get("name", "/"))
        ]

    # --- objects --------------------------------------------------------------------------------

    async def list(self, resource: ResourceType, query: ListQuery) -> ListPage:
        return await list_page(self.read, resource, query)

    async def read(self, path: str, params: Sequence[tuple[str, Any]]) -> JsonObject:
        """One GET of a collection (or object) document."""
        return await self._json("GET", path, params)

    async def read_raw(self, path: str, params: Sequence[tuple[str, Any]]) -> bytes:
        """The same document as the API server's bytes (the tunnel forwards them unparsed)."""
        async with self._response("GET", path, params) as response:
            return await response.read()

    async def get(self, resource: ResourceType, name: str, namespace: str | None = None) -> JsonObject:
        return await self._json("GET", resource.path(namespace, name))

    async def create(
        self, resource: ResourceType, body: JsonObject, namespace: str | None = None, *, dry_run: bool = False
    ) -> JsonObject:
        return await self._json("POST", resource.path(namespace), _dry_run(dry_run), body=body)

    async def replace(
        self,
        resource: ResourceType,
        name: str,
        body: JsonObject,
        namespace: str | None = None,
        *,
        dry_run: bool = False,
    ) -> JsonObject:
        return await self._json("PUT", resource.path(namespace, name), _dry_run(dry_run), body=body)

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
        return await self._json(
            "PATCH",
            resource.path(namespace, name, subresource),
            _dry_run(dry_run),
            body=patch,
            content_type=patch_type.value,
        )

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
        options: JsonObject = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        if dry_run:
            options["dryRun"] = ["All"]
        return await self._json("DELETE", resource.path(namespace, name), body=options)

    # --- streams --------------------------------------------------------------------------------

    async def watch(self, resource: ResourceType, query: WatchQuery) -> AsyncIterator[WatchEvent]:
        params: list[tuple[str, Any]] = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("labelSelector", query.label_selector or None),
            ("fieldSelector", query.field_selector or None),
            ("resourceVersion", query.resource_version or None),
            ("timeoutSeconds", query.timeout_seconds),
        ]
        async with self._response(
            "GET", resource.path(query.namespace), params, client_timeout=_stream_timeout()
        ) as response:
            async for line in _lines(response):
                event = _json_or_none(line)
                if event is None:
                    continue
                kind = str(event.get("type") or "")
                obj = event.get("object")
                if kind in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR") and isinstance(obj, dict):
                    yield WatchEvent(kind, obj)  # type: ignore[arg-type]

    async def pod_logs(self, namespace: str, name: str, query: LogQuery) -> AsyncIterator[bytes]:
        params: list[tuple[str, Any]] = [
            ("container", query.container),
            ("follow", "true" if query.follow else None),
            ("tailLines", query.tail_lines),
            ("timestamps", "true" if query.timestamps else None),
            ("sinceTime", query.since_time),
            ("sinceSeconds", query.since_seconds),
            ("previous", "true" if query.previous else None),
            ("limitBytes", query.limit_bytes),
        ]
        path = f"/api/v1/namespaces/{namespace}/pods/{name}/log"
        timeout = _stream_timeout() if query.follow else None
        async with self._response("GET", path, params, client_timeout=timeout) as response:
            async for chunk in response.content.iter_any():
                yield chunk

    async def pod_exec(self, namespace: str, name: str, request: ExecRequest) -> ExecSession:
        if self._ws is None:
            self._ws = WsApiClient(self.configuration)
        params: list[tuple[str, Any]] = [("command", part) for part in request.command]
        params += [("stdout", "true"), ("stderr", "false" if request.tty else "true")]
        if request.stdin:
            params.append(("stdin", "true"))
        if request.tty:
            params.append(("tty", "true"))
        if request.container:
            params.append(("container", request.container))
        try:
            connect = await self._ws.call_api(
                f"/api/v1/namespaces/{namespace}/pods/{name}/exec",
                "GET",
                query_params=params,
                header_params={"sec-websocket-protocol": ",".join(EXEC_SUBPROTOCOLS)},
                auth_settings=_AUTH,
                _preload_content=False,
            )
            socket = await connect
        except aiohttp.WSServerHandshakeError as exc:
            # The API server refused the upgrade with a Status (no such pod or container).
            raise KubeApiError(exc.status, _reason_of(exc.status), exc.message or "exec refused") from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ClusterUnavailable(f"{self.server} is not reachable: {exc or type(exc).__name__}") from exc
        session = ChannelExecSession(socket, tty=request.tty)
        if request.tty and request.rows and request.cols:
            await session.resize(request.rows, request.cols)
        return session


def _dry_run(dry_run: bool) -> list[tuple[str, Any]]:
    return [("dryRun", "All")] if dry_run else []


def _stream_timeout() -> aiohttp.ClientTimeout:
    # No total or read limit: a watch or a followed log is quiet for as long as nothing happens.
    return aiohttp.ClientTimeout(total=None, sock_read=None, connect=CONNECT_TIMEOUT_SECONDS)


async def _lines(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    buffer = b""
    async for chunk in response.content.iter_any():
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer


def _json_or_none(raw: bytes) -> JsonObject | None:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _reason_of(status: int) -> str:
    return {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}.get(status, "Unknown")
