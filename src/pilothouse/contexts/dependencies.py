"""Which cluster a Cluster API request is about: ``X-Kubeconfig-Context``, ``?cluster=`` or
``?context=``, else the configured default. The principal must be allowed that cluster."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from pilothouse.auth.dependencies import AccessGuardDep, ApiDeleter, ApiExecutor, ApiReader, ApiWriter
from pilothouse.auth.principal import Principal
from pilothouse.auth.service import AccessGuard
from pilothouse.contexts.service import ClusterTarget, ClusterTargets
from pilothouse.observability.logging import bind_cluster

CONTEXT_HEADER = "X-Kubeconfig-Context"
CONTEXT_QUERY_PARAMETERS = ("cluster", "context")


async def get_cluster_targets(request: Request) -> ClusterTargets:
    targets: ClusterTargets = request.app.state.cluster_targets
    return targets


ClusterTargetsDep = Annotated[ClusterTargets, Depends(get_cluster_targets)]


def requested_context(connection: HTTPConnection) -> str | None:
    value = connection.headers.get(CONTEXT_HEADER)
    for name in CONTEXT_QUERY_PARAMETERS:
        value = value or connection.query_params.get(name)
    return value or None


async def target_for(
    connection: HTTPConnection, principal: Principal, targets: ClusterTargets, guard: AccessGuard
) -> ClusterTarget:
    """The cluster the request selects, once the principal is known to be allowed it."""
    target = await targets.select(requested_context(connection))
    await guard.require_cluster(principal, target.id)
    bind_cluster(target.id)
    return target


# One function per scope, because FastAPI reads each parameter's annotation to know what to
# inject; FastAPI resolves the principal once per request even if the route also declares it.
async def _read_target(
    request: Request, principal: ApiReader, targets: ClusterTargetsDep, guard: AccessGuardDep
) -> ClusterTarget:
    return await target_for(request, principal, targets, guard)


async def _write_target(
    request: Request, principal: ApiWriter, targets: ClusterTargetsDep, guard: AccessGuardDep
) -> ClusterTarget:
    return await target_for(request, principal, targets, guard)


async def _delete_target(
    request: Request, principal: ApiDeleter, targets: ClusterTargetsDep, guard: AccessGuardDep
) -> ClusterTarget:
    return await target_for(request, principal, targets, guard)


async def _exec_target(
    request: Request, principal: ApiExecutor, targets: ClusterTargetsDep, guard: AccessGuardDep
) -> ClusterTarget:
    return await target_for(request, principal, targets, guard)


ReadTarget = Annotated[ClusterTarget, Depends(_read_target)]
WriteTarget = Annotated[ClusterTarget, Depends(_write_target)]
DeleteTarget = Annotated[ClusterTarget, Depends(_delete_target)]
ExecTarget = Annotated[ClusterTarget, Depends(_exec_target)]
