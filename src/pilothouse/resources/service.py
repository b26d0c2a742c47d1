"""Resource operations on a selected cluster, free of HTTP: the Cluster API's section 3.

Objects are returned as the API server sends them (camelCase, round-trippable through PUT), with
the few snake_case metadata fields the spec's examples show added alongside (see docs/compat.md).
Secret values never leave (policy.objects), and the cluster's security mode is checked here for
Direct clusters and again by the executor for tunnel ones.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pilothouse.audit.clock import utc_now
from pilothouse.audit.service import Actor, AuditAction, AuditOutcome, record
from pilothouse.contexts.service import ClusterTarget
from pilothouse.errors import ApiError, BadRequest
from pilothouse.kube.errors import kube_errors
from pilothouse.kube.ops import JsonObject, ListQuery, PatchType, ResourceType, SortKey
from pilothouse.policy.objects import (
    Access,
    carries_redacted_values,
    redact_items,
    redact_object,
)
from pilothouse.store.database import Database

# Path segments that stand for "no namespace" in .../{namespace}/{name} for cluster-scoped kinds.
CLUSTER_SCOPE_PLACEHOLDERS = frozenset({"_", "-", "cluster", ""})


class PatchStrategy(StrEnum):
    REPLACE = "replace"
    MERGE_PATCH = "merge_patch"
    STRATEGIC_MERGE_PATCH = "strategic_merge_patch"
    JSON_PATCH = "json_patch"


_PATCH_TYPES = {
    PatchStrategy.MERGE_PATCH: PatchType.MERGE,
    PatchStrategy.STRATEGIC_MERGE_PATCH: PatchType.STRATEGIC,
    PatchStrategy.JSON_PATCH: PatchType.JSON,
}


@dataclass(frozen=True, slots=True)
class ResourcePage:
    resource: ResourceType
    items: list[JsonObject]
    total_count: int
    limit: int
    offset: int
    resource_version: str

    def body(self) -> dict[str, Any]:
        returned = len(self.items)
        return {
            "kind": self.resource.kind,
            "api_version": self.resource.api_version,
            "apiVersion": self.resource.api_version,
            "resource_version": self.resource_version,
            "total_count": self.total_count,
            "page": {
                "limit": self.limit,
                "offset": self.offset,
                "returned": returned,
                "has_more": self.offset + returned < self.total_count,
            },
            "items": self.items,
        }


def with_spec_fields(obj: JsonObject) -> JsonObject:
    """The object with the snake_case metadata aliases of the spec's examples added."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return obj
    aliases = {
        "creation_timestamp": metadata.get("creationTimestamp"),
        "deletion_timestamp": metadata.get("deletionTimestamp"),
        "deletion_grace_period_seconds": metadata.get("deletionGracePeriodSeconds"),
        "resource_version": metadata.get("resourceVersion"),
    }
    status = obj.get("status")
    if isinstance(status, dict) and "observedGeneration" in status:
        aliases["generation_observed_by_controller"] = status["observedGeneration"]
    extra = {key: value for key, value in aliases.items() if value is not None}
    if not extra:
        return obj
    return {**obj, "metadata": {**metadata, **extra}}


def _present(obj: JsonObject, resource: ResourceType) -> JsonObject:
    return with_spec_fields(redact_object(obj, kind=resource.kind))


def object_namespace(resource: ResourceType, namespace: str | None) -> str | None:
    """The namespace a path segment means for this kind (None for cluster-scoped kinds)."""
    if not resource.namespaced:
        if namespace not in CLUSTER_SCOPE_PLACEHOLDERS and namespace is not None:
            raise BadRequest(
                f"{resource.kind} is cluster-scoped: use _ as the namespace segment",
                error="invalid_parameter",
                details={"namespace": namespace, "resource_kind": resource.kind},
            )
        return None
    if namespace is None or namespace in CLUSTER_SCOPE_PLACEHOLDERS:
        raise BadRequest(
            f"{resource.kind} is namespaced: the path needs a namespace",
            error="invalid_parameter",
            details={"resource_kind": resource.kind},
        )
    return namespace


async def resolve(target: ClusterTarget, kind: str) -> ResourceType:
    with kube_errors(target.id):
        return await target.resolver.resolve(kind)


async def list_resources(
    target: ClusterTarget,
    kind: str,
    *,
    namespace: str | None,
    label_selector: str | None,
    field_selector: str | None,
    limit: int,
    offset: int,
    sort_by: SortKey,
    descending: bool,
) -> ResourcePage:
    resource = await resolve(target, kind)
    target.require(Access.READ, f"listing {resource.plural}")
    query = ListQuery(
        namespace=namespace if resource.namespaced else None,
        label_selector=label_selector,
        field_selector=field_selector,
        offset=offset,
        limit=limit,
        sort_by=sort_by,
        descending=descending,
    )
    selectors = [
        name
        for name, value in (("label_selector", label_selector), ("field_selector", field_selector))
        if value
    ]
    with kube_errors(target.id, kind=resource.kind, namespace=namespace, selectors=selectors):
        page = await target.ops.list(resource, query)
    items = [with_spec_fields(item) for item in redact_items(page.items, resource.kind)]
    return ResourcePage(resource, items, page.total_count, limit, offset, page.resource_version)


async def get_resource(target: ClusterTarget, kind: str, namespace: str | None, name: str) -> JsonObject:
    resource = await resolve(target, kind)
    target.require(Access.READ, f"reading {resource.plural}")
    scoped = object_namespace(resource, namespace)
    with kube_errors(target.id, kind=resource.kind, namespace=scoped, name=name):
        return _present(await target.ops.get(resource, name, scoped), resource)


class ResourceWriter:
    """Writes, each audited with who asked, what changed and how it ended."""

    def __init__(self, database: Database, target: ClusterTarget, actor: Actor) -> None:
        self._database = database
        self._target = target
        self._actor = actor

    async def create(
        self, kind: str, body: JsonObject, *, default_namespace: str | None, validate_only: bool
    ) -> JsonObject:
        resource = await resolve(self._target, kind)
        _check_body(resource, body)
        metadata = body.get("metadata") or {}
        name = metadata.get("name") or metadata.get("generateName")
        namespace = (
            (metadata.get("namespace") or default_namespace or "default") if resource.namespaced else None
        )
        complete = {
            **body,
            "kind": resource.kind,
            "apiVersion": body.get("apiVersion") or resource.api_version,
        }
        return await self._write(
            AuditAction.RESOURCE_CREATE,
            resource,
            namespace,
            str(name or ""),
            lambda: self._target.ops.create(resource, complete, namespace, dry_run=validate_only),
            validate_only=validate_only,
        )

    async def update(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        body: JsonObject | list[Any],
        *,
        strategy: PatchStrategy,
        validate_only: bool,
    ) -> JsonObject:
        resource = await resolve(self._target, kind)
        scoped = object_namespace(resource, namespace)
        ops = self._target.ops
        if strategy is PatchStrategy.REPLACE:
            if not isinstance(body, dict):
                raise BadRequest("A replacement must be a JSON object", error="validation_failed")
            _check_body(resource, body)
            _check_identity(body, resource, scoped, name)
            replacement = _with_identity(body, resource, scoped, name)

            async def call() -> JsonObject:
                return await ops.replace(resource, name, replacement, scoped, dry_run=validate_only)

        else:
            if strategy is not PatchStrategy.JSON_PATCH and not isinstance(body, dict):
                raise BadRequest(f"A {strategy.value} body must be a JSON object", error="validation_failed")
            if resource.kind == "Secret" and carries_redacted_values(body):
                raise _redacted_secret()
            patch_type = _PATCH_TYPES[strategy]

            async def call() -> JsonObject:
                return await ops.patch(resource, name, body, patch_type, scoped, dry_run=validate_only)

        return await self._write(
            AuditAction.RESOURCE_UPDATE,
            resource,
            scoped,
            name,
            call,
            validate_only=validate_only,
            details={"patch_strategy": strategy.value},
        )

    async def delete(
        self, kind: str, namespace: str | None, name: str, *, grace_period_seconds: int | None, force: bool
    ) -> JsonObject:
        resource = await resolve(self._target, kind)
        scoped = object_namespace(resource, namespace)
        grace = 0 if force else grace_period_seconds

        async def call() -> JsonObject:
            result = await self._target.ops.delete(
                resource, name, scoped, grace_period_seconds=grace, propagation_policy="Background"
            )
            if result.get("kind") == "Status":
                # Deleted at once: there is no object left to return, say what went.
                return {
                    "kind": resource.kind,
                    "apiVersion": resource.api_version,
                    "metadata": {"name": name, **({"namespace": scoped} if scoped else {})},
                    "status": {"phase": "Deleted"},
                    "deleted": True,
                }
            return result

        return await self._write(
            AuditAction.RESOURCE_DELETE,
            resource,
            scoped,
            name,
            call,
            validate_only=False,
            details={"grace_period_seconds": grace, "force": force},
        )

    async def _write(
        self,
        action: AuditAction,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        call: Any,
        *,
        validate_only: bool,
        details: dict[str, Any] | None = None,
    ) -> JsonObject:
        target = self._target
        what = f"{action.value.split('.')[1]} {resource.kind}"
        started = time.monotonic()
        outcome, reason = AuditOutcome.SUCCESS, None
        try:
            target.require(Access.WRITE, what)
            with kube_errors(target.id, kind=resource.kind, namespace=namespace, name=name):
                result: JsonObject = await call()
            return _present(result, resource)
        except ApiError as error:
            outcome = AuditOutcome.DENIED if error.status_code == 403 else AuditOutcome.FAILURE
            reason = error.message
            raise
        finally:
            await self._audit(
                action,
                outcome,
                resource,
                namespace,
                name,
                reason,
                int((time.monotonic() - started) * 1000),
                {**(details or {}), "validate_only": validate_only},
            )

    async def _audit(
        self,
        action: AuditAction,
        outcome: AuditOutcome,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        reason: str | None,
        duration_ms: int,
        details: dict[str, Any],
    ) -> None:
        async with self._database.session() as session:
            record(
                session,
                action=action,
                outcome=outcome,
                actor=self._actor,
                occurred_at=utc_now(),
                cluster_id=self._target.id,
                reason=reason,
                duration_ms=duration_ms,
                details={
                    "kind": resource.kind,
                    "api_version": resource.api_version,
                    "namespace": namespace,
                    "name": name,
                    **details,
                },
            )


def _redacted_secret() -> BadRequest:
    return BadRequest(
        "The Secret carries <redacted> values read from this API; send the real values",
        error="validation_failed",
        details={"field": "data"},
    )


def _check_body(resource: ResourceType, body: JsonObject) -> None:
    kind = body.get("kind")
    if kind is not None and kind != resource.kind:
        raise BadRequest(
            f"The body is a {kind}, the path says {resource.kind}",
            error="validation_failed",
            details={
                "violations": [
                    {"field": "kind", "reason": "mismatch", "message": f"expected {resource.kind}"}
                ]
            },
        )
    if not isinstance(body.get("metadata", {}), dict):
        raise BadRequest(
            "metadata must be an object", error="validation_failed", details={"field": "metadata"}
        )
    if resource.kind == "Secret" and carries_redacted_values(body):
        raise _redacted_secret()


def _check_identity(body: JsonObject, resource: ResourceType, namespace: str | None, name: str) -> None:
    metadata = body.get("metadata") or {}
    for field, expected in (("name", name), ("namespace", namespace)):
        given = metadata.get(field)
        if given is not None and expected is not None and given != expected:
            raise BadRequest(
                f"metadata.{field} is {given!r} but the path says {expected!r}",
                error="validation_failed",
                details={
                    "violations": [
                        {
                            "field": f"metadata.{field}",
                            "reason": "mismatch",
                            "message": f"expected {expected}",
                        }
                    ]
                },
            )


def _with_identity(body: JsonObject, resource: ResourceType, namespace: str | None, name: str) -> JsonObject:
    metadata = dict(body.get("metadata") or {})
    metadata["name"] = name
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        **body,
        "kind": resource.kind,
        "apiVersion": body.get("apiVersion") or resource.api_version,
        "metadata": metadata,
    }
