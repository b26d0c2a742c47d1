"""GET /api/v1/namespaces (read scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from pilothouse.contexts.dependencies import ReadTarget
from pilothouse.kube.errors import kube_errors
from pilothouse.namespaces import service
from pilothouse.namespaces.schemas import NamespaceList
from pilothouse.params import InvalidParameterRoute

router = APIRouter(prefix="/api/v1", tags=["namespaces"], route_class=InvalidParameterRoute)


@router.get(
    "/namespaces",
    summary="List namespaces with pod counts and quota usage",
    # Namespaces without quotas carry no resource_quota_status at all, as in the spec.
    response_model_exclude_none=True,
)
async def list_namespaces(
    target: ReadTarget,
    limit: Annotated[int, Query(ge=1, le=1000, description="Max results")] = 100,
    offset: Annotated[int, Query(ge=0, description="Pagination offset")] = 0,
    include_system: Annotated[
        bool, Query(description="Include kube-system, kube-public, kube-node-lease and other kube-*")
    ] = False,
) -> NamespaceList:
    with kube_errors(target.id, kind="Namespace"):
        return await service.list_namespaces(
            target.snapshot_ops, target.resolver, limit=limit, offset=offset, include_system=include_system
        )
