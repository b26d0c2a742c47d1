"""Executor authentication (executor protocol): ``Authorization: Bearer <executor token>`` and
``X-Cluster-ID``; every authenticated request is a heartbeat."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import Headers

from pilothouse.clusters.ids import is_valid_cluster_id
from pilothouse.clusters.service import ClusterRegistry, ExecutorIdentity
from pilothouse.errors import BadRequest, Unauthorized
from pilothouse.observability.logging import bind_cluster, bind_principal

CLUSTER_ID_HEADER = "X-Cluster-ID"
EXECUTOR_ID_HEADER = "X-Executor-Id"
EXECUTOR_VERSION_HEADER = "X-Executor-Version"
EXECUTOR_INFLIGHT_HEADER = "X-Executor-Inflight"
# An executor that sends no X-Executor-Id (a Kubently agent) is one anonymous executor.
DEFAULT_EXECUTOR_ID = "default"
_CLUSTER_ID_KEY = CLUSTER_ID_HEADER.lower()
_EXECUTOR_ID_KEY = EXECUTOR_ID_HEADER.lower()
_EXECUTOR_VERSION_KEY = EXECUTOR_VERSION_HEADER.lower()
_EXECUTOR_INFLIGHT_KEY = EXECUTOR_INFLIGHT_HEADER.lower()
_HEADER_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+:-]{0,63}")


# async although it awaits nothing: FastAPI runs plain def dependencies in a thread pool,
# which would cost a thread hop on every request.
async def get_cluster_registry(request: Request) -> ClusterRegistry:
    registry: ClusterRegistry = request.app.state.cluster_registry
    return registry


ClusterRegistryDep = Annotated[ClusterRegistry, Depends(get_cluster_registry)]


def _token(value: str | None, header: str) -> str | None:
    if value is None or value == "":
        return None
    if not _HEADER_TOKEN.fullmatch(value):
        raise BadRequest(
            f"{header} must be a plain token of at most 64 characters", details={"field": header}
        )
    return value


def _inflight(value: str | None) -> int:
    if value is None or value == "":
        return 0
    if not value.isdigit():
        raise BadRequest(
            f"{EXECUTOR_INFLIGHT_HEADER} must be a whole number", details={"field": EXECUTOR_INFLIGHT_HEADER}
        )
    return int(value)


async def authenticated_executor(request: Request, registry: ClusterRegistryDep) -> ExecutorIdentity:
    return await authenticate_executor_headers(request.headers, registry)


_EXECUTOR_HEADERS = frozenset(
    key.encode()
    for key in (
        _CLUSTER_ID_KEY,
        "authorization",
        _EXECUTOR_ID_KEY,
        _EXECUTOR_VERSION_KEY,
        _EXECUTOR_INFLIGHT_KEY,
    )
)


def _executor_headers(headers: Headers) -> dict[str, str]:
    """The executor protocol's headers, in one pass over the raw ones (the first of repeated
    headers counts, as with ``Headers.get``): every executor request reads all five."""
    found: dict[str, str] = {}
    for name, value in headers.raw:
        if name in _EXECUTOR_HEADERS:
            found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


async def authenticate_executor_headers(headers: Headers, registry: ClusterRegistry) -> ExecutorIdentity:
    """The executor a request (or WebSocket handshake) comes from, recorded as a heartbeat; 401 if none."""
    found = _executor_headers(headers)
    cluster_id = found.get(_CLUSTER_ID_KEY, "")
    scheme, _, token = found.get("authorization", "").partition(" ")
    if not cluster_id or scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(f"Executor requests need Authorization: Bearer <token> and {CLUSTER_ID_HEADER}")
    if not is_valid_cluster_id(cluster_id):
        raise Unauthorized("Invalid executor token or cluster id")
    await registry.authenticate_executor(cluster_id, token.strip())
    executor = ExecutorIdentity(
        cluster_id=cluster_id,
        executor_id=_token(found.get(_EXECUTOR_ID_KEY), EXECUTOR_ID_HEADER) or DEFAULT_EXECUTOR_ID,
        version=_token(found.get(_EXECUTOR_VERSION_KEY), EXECUTOR_VERSION_HEADER),
        inflight=_inflight(found.get(_EXECUTOR_INFLIGHT_KEY)),
    )
    bind_cluster(cluster_id)
    bind_principal(f"executor:{cluster_id}/{executor.executor_id}")
    await registry.record_heartbeat(executor)
    return executor


ExecutorDep = Annotated[ExecutorIdentity, Depends(authenticated_executor)]
