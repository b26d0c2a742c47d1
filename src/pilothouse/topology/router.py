"""GET /api/v1/topology (read scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from pilothouse.contexts.dependencies import ReadTarget
from pilothouse.kube.errors import kube_errors
from pilothouse.params import InvalidParameterRoute
from pilothouse.topology import service
from pilothouse.topology.schemas import Topology

router = APIRouter(prefix="/api/v1", tags=["topology"], route_class=InvalidParameterRoute)


@router.get(
    "/topology",
    summary="Cluster topology: nodes, namespaces, workloads, pods, services and network policies",
    # What a depth does not reach is absent rather than null (see the schema's description).
    response_model_exclude_none=True,
)
async def get_topology(
    target: ReadTarget,
    depth: Annotated[
        int,
        Query(
            ge=service.MIN_DEPTH,
            le=service.MAX_DEPTH,
            description="1 counts; 2 node pods; 3 workloads with pods and services; "
            "4 ReplicaSets/Jobs, services' pods, standalone pods; 5 containers",
        ),
    ] = service.DEFAULT_DEPTH,
    include_metrics: Annotated[bool, Query(description="Node usage from metrics-server")] = True,
    include_events: Annotated[bool, Query(description="Warning events of the last hour")] = False,
    namespace: Annotated[str | None, Query(description="Only this namespace's pods and objects")] = None,
) -> Topology:
    query = service.TopologyQuery(
        depth=depth, include_metrics=include_metrics, include_events=include_events, namespace=namespace
    )
    with kube_errors(target.id, namespace=namespace):
        return await service.topology(target.snapshot_ops, target.resolver, target.id, query)
