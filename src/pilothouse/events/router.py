"""GET /api/v1/events (read scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from pilothouse.contexts.dependencies import ReadTarget
from pilothouse.events import service
from pilothouse.events.schemas import EventList
from pilothouse.kube.errors import kube_errors
from pilothouse.params import InvalidParameterRoute

router = APIRouter(prefix="/api/v1", tags=["events"], route_class=InvalidParameterRoute)


@router.get(
    "/events",
    summary="List cluster events by namespace, involved object, type and time",
    # Absent fields stay absent (an event without uid or source), as in the spec's examples.
    response_model_exclude_none=True,
)
async def list_events(
    target: ReadTarget,
    namespace: Annotated[str | None, Query(description="Only events in this namespace")] = None,
    resource_kind: Annotated[
        str | None, Query(description="Kind of the involved object: Pod, Deployment (or pods, deploy)")
    ] = None,
    resource_name: Annotated[str | None, Query(description="Name of the involved object")] = None,
    event_type: Annotated[
        service.EventType | None,
        Query(description="Normal or Warning (Error is accepted; Kubernetes itself writes none)"),
    ] = None,
    since_time: Annotated[str | None, Query(description="RFC 3339; default: one hour ago")] = None,
    until_time: Annotated[str | None, Query(description="RFC 3339; default: no upper bound (now)")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = service.DEFAULT_LIMIT,
    sort_order: Annotated[service.SortOrder, Query(description="By time: asc or desc")] = "desc",
) -> EventList:
    query = service.EventFilter(
        namespace=namespace,
        resource_kind=resource_kind,
        resource_name=resource_name,
        event_type=event_type,
        since=service.time_parameter("since_time", since_time),
        until=service.time_parameter("until_time", until_time),
        limit=limit,
        sort_order=sort_order,
    )
    with kube_errors(target.id, kind="Event", namespace=namespace):
        return await service.list_events(target.ops, target.resolver, query)
