"""The ``ClusterOps`` port: every operation Pilothouse performs on a cluster's API.

Objects travel as plain JSON dictionaries, exactly as the API server sends them: the Cluster
API returns them to clients unchanged, and a typed model per kind would cost time and lose
fields the client knows better. Failures are :class:`KubeApiError` carrying the server's
``Status``; transport failures (cluster unreachable, executor gone) are :class:`ClusterUnavailable`.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

JsonObject = dict[str, Any]


class ClusterUnavailable(Exception):
    """The cluster cannot be reached: connection refused, TLS failure, executor not connected."""


class KubeApiError(Exception):
    """The API server answered with an error ``Status``."""

    def __init__(self, status: int, reason: str, message: str, body: JsonObject | None = None) -> None:
        super().__init__(message)
        self.status = status
        # The Status reason: NotFound, AlreadyExists, Conflict, Invalid, Forbidden, Expired, ...
        self.reason = reason
        self.message = message
        self.body = body or {}

    @classmethod
    def from_status(cls, status: int, body: JsonObject | None) -> KubeApiError:
        body = body or {}
        reason = str(body.get("reason") or "Unknown")
        message = str(body.get("message") or f"the API server answered {status}")
        return cls(status, reason, message, body)

    @property
    def causes(self) -> list[JsonObject]:
        details = self.body.get("details")
        causes = details.get("causes") if isinstance(details, dict) else None
        return [cause for cause in causes or [] if isinstance(cause, dict)]

    def to_json(self) -> JsonObject:
        return {"status": self.status, "reason": self.reason, "message": self.message, "body": self.body}

    @classmethod
    def from_json(cls, data: JsonObject) -> KubeApiError:
        return cls(int(data["status"]), str(data["reason"]), str(data["message"]), data.get("body"))


@dataclass(frozen=True, slots=True)
class ResourceType:
    """One resource type of a cluster, as its discovery documents describe it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The API path of the collection, or of one object (and its subresource)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [base]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name is not None:
            parts.append(name)
            if subresource:
                parts.append(subresource)
        return "/".join(parts)

    def to_json(self) -> JsonObject:
        return {
            "group": self.group,
            "version": self.version,
            "plural": self.plural,
            "kind": self.kind,
            "namespaced": self.namespaced,
            "singular": self.singular,
            "short_names": list(self.short_names),
            "verbs": list(self.verbs),
            "categories": list(self.categories),
        }

    @classmethod
    def from_json(cls, data: JsonObject) -> ResourceType:
        return cls(
            group=str(data.get("group") or ""),
            version=str(data["version"]),
            plural=str(data["plural"]),
            kind=str(data["kind"]),
            namespaced=bool(data.get("namespaced", True)),
            singular=str(data.get("singular") or ""),
            short_names=tuple(data.get("short_names") or ()),
            verbs=tuple(data.get("verbs") or ()),
            categories=tuple(data.get("categories") or ()),
        )


class PatchType(StrEnum):
    JSON = "application/json-patch+json"
    MERGE = "application/merge-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"


SortKey = Literal["name", "namespace", "created", "age"]


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A page of a filtered, sorted collection: what the Cluster API's list endpoint asks.

    Answered where the objects are (inside the executor, for a Tunnel), so that only the page
    crosses the tunnel.
    """

    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None
    offset: int = 0
    # None: every item.
    limit: int | None = None
    sort_by: SortKey = "name"
    descending: bool = False

    def to_json(self) -> JsonObject:
        return {
            "namespace": self.namespace,
            "label_selector": self.label_selector,
            "field_selector": self.field_selector,
            "offset": self.offset,
            "limit": self.limit,
            "sort_by": self.sort_by,
            "descending": self.descending,
        }

    @classmethod
    def from_json(cls, data: JsonObject) -> ListQuery:
        return cls(
            namespace=data.get("namespace"),
            label_selector=data.get("label_selector"),
            field_selector=data.get("field_selector"),
            offset=int(data.get("offset") or 0),
            limit=None if data.get("limit") is None else int(data["limit"]),
            sort_by=data.get("sort_by") or "name",
            descending=bool(data.get("descending")),
        )


@dataclass(frozen=True, slots=True)
class ListPage:
    items: list[JsonObject]
    total_count: int
    # The collection's resourceVersion: a watch started from it misses nothing.
    resource_version: str

    def to_json(self) -> JsonObject:
        return {
            "items": self.items,
            "total_count": self.total_count,
            "resource_version": self.resource_version,
        }

    @classmethod
    def from_json(cls, data: JsonObject) -> ListPage:
        return cls(
            items=list(data["items"]),
            total_count=int(data["total_count"]),
            resource_version=str(data.get("resource_version") or ""),
        )


WatchEventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: WatchEventType
    object: JsonObject


@dataclass(frozen=True, slots=True)
class WatchQuery:
    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None
    # Start after this version; None: from now (the server sends the current state as ADDED).
    resource_version: str | None = None
    # The API server ends the watch after this long; callers resume from the last version.
    timeout_seconds: int | None = None

    def to_json(self) -> JsonObject:
        return {
            "namespace": self.namespace,
            "label_selector": self.label_selector,
            "field_selector": self.field_selector,
            "resource_version": self.resource_version,
            "timeout_seconds": self.timeout_seconds,
        }

    @classmethod
    def from_json(cls, data: JsonObject) -> WatchQuery:
        return cls(
            namespace=data.get("namespace"),
            label_selector=data.get("label_selector"),
            field_selector=data.get("field_selector"),
            resource_version=data.get("resource_version"),
            timeout_seconds=data.get("timeout_seconds"),
        )


@dataclass(frozen=True, slots=True)
class LogQuery:
    container: str | None = None
    follow: bool = False
    tail_lines: int | None = None
    timestamps: bool = False
    since_time: str | None = None
    since_seconds: int | None = None
    previous: bool = False
    limit_bytes: int | None = None

    def to_json(self) -> JsonObject:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_json(cls, data: JsonObject) -> LogQuery:
        return cls(
            container=data.get("container"),
            follow=bool(data.get("follow")),
            tail_lines=data.get("tail_lines"),
            timestamps=bool(data.get("timestamps")),
            since_time=data.get("since_time"),
            since_seconds=data.get("since_seconds"),
            previous=bool(data.get("previous")),
            limit_bytes=data.get("limit_bytes"),
        )


ExecChannel = Literal["stdout", "stderr"]


@dataclass(frozen=True, slots=True)
class ExecRequest:
    command: tuple[str, ...]
    container: str | None = None
    stdin: bool = False
    tty: bool = False
    # The terminal's first size, when tty.
    rows: int | None = None
    cols: int | None = None

    def to_json(self) -> JsonObject:
        return {
            "command": list(self.command),
            "container": self.container,
            "stdin": self.stdin,
            "tty": self.tty,
            "rows": self.rows,
            "cols": self.cols,
        }

    @classmethod
    def from_json(cls, data: JsonObject) -> ExecRequest:
        return cls(
            command=tuple(str(part) for part in data["command"]),
            container=data.get("container"),
            stdin=bool(data.get("stdin")),
            tty=bool(data.get("tty")),
            rows=data.get("rows"),
            cols=data.get("cols"),
        )


@dataclass(frozen=True, slots=True)
class ExecOutput:
    channel: ExecChannel
    data: bytes


@dataclass(slots=True)
class ExecExit:
    """How an exec ended: the process's exit code, or why there is none."""

    exit_code: int | None
    # The API server's Status message when the exec itself failed (no such container, ...).
    error: str | None = None
    details: JsonObject = field(default_factory=dict)


class ExecSession(Protocol):
    """A running exec: feed stdin, resize the terminal, read output until the exit."""

    def output(self) -> AsyncIterator[ExecOutput]:
        """Output as it comes; ends when the process exits or the stream closes."""
        ...

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    async def resize(self, rows: int, cols: int) -> None: ...

    async def wait(self) -> ExecExit:
        """The exit, once ``output()`` has ended."""
        ...

    async def close(self) -> None:
        """Stop the exec (kills the process's stream) and release the connection."""
        ...


class ClusterOps(Protocol):
    """One cluster's API. Implementations: Direct (kube.direct) and Tunnel (tunnel.ops)."""

    async def discover(self) -> Sequence[ResourceType]:
        """Every resource type the API server serves (preferred versions, no subresources)."""
        ...

    async def server_version(self) -> JsonObject:
        """The API server's /version document."""
        ...

    async def list(self, resource: ResourceType, query: ListQuery) -> ListPage: ...

    async def get(self, resource: ResourceType, name: str, namespace: str | None = None) -> JsonObject: ...

    async def create(
        self, resource: ResourceType, body: JsonObject, namespace: str | None = None, *, dry_run: bool = False
    ) -> JsonObject: ...

    async def replace(
        self,
        resource: ResourceType,
        name: str,
        body: JsonObject,
        namespace: str | None = None,
        *,
        dry_run: bool = False,
    ) -> JsonObject: ...

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
    ) -> JsonObject: ...

    async def delete(
        self,
        resource: ResourceType,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        dry_run: bool = False,
    ) -> JsonObject: ...

    def watch(self, resource: ResourceType, query: WatchQuery) -> AsyncIterator[WatchEvent]:
        """One watch request: events until the API server ends it. ERROR events are yielded as-is."""
        ...

    def pod_logs(self, namespace: str, name: str, query: LogQuery) -> AsyncIterator[bytes]:
        """The log as chunks; with ``follow`` it goes on until the container stops or the caller stops."""
        ...

    async def pod_exec(self, namespace: str, name: str, request: ExecRequest) -> ExecSession: ...

    async def close(self) -> None: ...
