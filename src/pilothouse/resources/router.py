"""``/api/v1/resources/{kind}[/{namespace}/{name}]``: thin HTTP over resources.service."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, status

from pilothouse.auth.dependencies import ApiDeleter, ApiReader, ApiWriter
from pilothouse.contexts.dependencies import DeleteTarget, ReadTarget, WriteTarget
from pilothouse.dependencies import DatabaseDep
from pilothouse.errors import BadRequest
from pilothouse.resources import service
from pilothouse.resources.service import PatchStrategy, ResourceWriter

router = APIRouter(prefix="/api/v1/resources", tags=["resources"])

KindPath = Annotated[
    str, Path(description="Kind, plural or short name (Pod, pods, po, deployments.apps)", max_length=253)
]
NamespacePath = Annotated[str, Path(description="Namespace; _ for cluster-scoped kinds", max_length=253)]
NamePath = Annotated[str, Path(max_length=253)]


def _json_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object (a Kubernetes manifest)", error="validation_failed")
    return body


@router.get("/{kind}", summary="List resources of a kind (filtered, sorted, paged)")
async def list_resources(
    kind: KindPath,
    principal: ApiReader,
    target: ReadTarget,
    namespace: Annotated[str | None, Query(max_length=253)] = None,
    label_selector: Annotated[str | None, Query(max_length=4096)] = None,
    field_selector: Annotated[str | None, Query(max_length=4096)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    sort_by: Annotated[Literal["name", "namespace", "created", "age"], Query()] = "name",
    sort_order: Annotated[Literal["asc", "desc"], Query()] = "asc",
) -> dict[str, Any]:
    page = await service.list_resources(
        target,
        kind,
        namespace=namespace,
        label_selector=label_selector,
        field_selector=field_selector,
        limit=limit,
        offset=offset,
        sort_by=sort_by,
        descending=sort_order == "desc",
    )
    return page.body()


@router.get("/{kind}/{namespace}/{name}", summary="Get one resource")
async def get_resource(
    kind: KindPath, namespace: NamespacePath, name: NamePath, principal: ApiReader, target: ReadTarget
) -> dict[str, Any]:
    return await service.get_resource(target, kind, namespace, name)


@router.post(
    "/{kind}", status_code=status.HTTP_201_CREATED, summary="Create a resource (validate_only: dry run)"
)
async def create_resource(
    kind: KindPath,
    principal: ApiWriter,
    target: WriteTarget,
    database: DatabaseDep,
    body: Annotated[Any, Body(description="The manifest")],
    validate_only: bool = False,
    namespace: Annotated[
        str | None, Query(max_length=253, description="Used when metadata.namespace is absent")
    ] = None,
) -> dict[str, Any]:
    writer = ResourceWriter(database, target, principal.actor())
    return await writer.create(
        kind,
        _json_object(body),
        default_namespace=namespace or principal.namespace,
        validate_only=validate_only,
    )


@router.put("/{kind}/{namespace}/{name}", summary="Replace or patch a resource")
async def update_resource(
    kind: KindPath,
    namespace: NamespacePath,
    name: NamePath,
    principal: ApiWriter,
    target: WriteTarget,
    database: DatabaseDep,
    body: Annotated[Any, Body(description="The object (replace) or the patch")],
    patch_strategy: PatchStrategy = PatchStrategy.REPLACE,
    validate_only: bool = False,
) -> dict[str, Any]:
    writer = ResourceWriter(database, target, principal.actor())
    return await writer.update(
        kind, namespace, name, body, strategy=patch_strategy, validate_only=validate_only
    )


@router.delete("/{kind}/{namespace}/{name}", summary="Delete a resource (grace period, force)")
async def delete_resource(
    kind: KindPath,
    namespace: NamespacePath,
    name: NamePath,
    principal: ApiDeleter,
    target: DeleteTarget,
    database: DatabaseDep,
    grace_period_seconds: Annotated[int | None, Query(ge=0, le=86_400)] = None,
    force: bool = False,
) -> dict[str, Any]:
    writer = ResourceWriter(database, target, principal.actor())
    return await writer.delete(kind, namespace, name, grace_period_seconds=grace_period_seconds, force=force)
