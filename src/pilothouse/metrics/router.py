"""GET /api/v1/metrics/nodes and GET /api/v1/metrics/pods (read scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from pilothouse.contexts.dependencies import ReadTarget
from pilothouse.kube.errors import kube_errors
from pilothouse.metrics import service
from pilothouse.metrics.schemas import NodeMetricsList, PodMetricsList
from pilothouse.params import InvalidParameterRoute

router = APIRouter(prefix="/api/v1", tags=["metrics"], route_class=InvalidParameterRoute)


@router.get("/metrics/nodes", summary="Node CPU and memory usage against allocatable (metrics-server)")
async def node_metrics(
    target: ReadTarget,
    node_name: Annotated[str | None, Query(description="Only this node")] = None,
    sort_by: Annotated[
        service.NodeSort,
        Query(description="cpu_usage and memory_usage: busiest first; network: as name (no network data)"),
    ] = "name",
) -> NodeMetricsList:
    with kube_errors(target.id):
        return await service.node_metrics(
            target.snapshot_ops, target.resolver, node_name=node_name, sort_by=sort_by
        )


@router.get("/metrics/pods", summary="Container CPU and memory usage against requests and limits")
async def pod_metrics(
    target: ReadTarget,
    namespace: Annotated[str | None, Query(description="Only pods in this namespace")] = None,
    pod_name: Annotated[str | None, Query(description="Only pods of this name")] = None,
    sort_by: Annotated[
        service.PodSort, Query(description="cpu_usage and memory_usage: busiest first (pod totals)")
    ] = "name",
    limit: Annotated[int, Query(ge=1, le=service.MAX_POD_LIMIT)] = service.DEFAULT_POD_LIMIT,
) -> PodMetricsList:
    with kube_errors(target.id, namespace=namespace):
        return await service.pod_metrics(
            target.snapshot_ops,
            target.resolver,
            namespace=namespace,
            pod_name=pod_name,
            sort_by=sort_by,
            limit=limit,
        )
