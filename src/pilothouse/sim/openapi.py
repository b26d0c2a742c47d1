"""A minimal OpenAPI v3 discovery, enough for kubectl to trust server-side field validation.

kubectl (`--validate=strict`, its default) asks /openapi/v3 whether the server accepts the
`fieldValidation` query parameter for a kind; if it does, kubectl skips client-side schema
validation and lets the server judge. The documents list every resource's paths and operations
with that parameter. Full schemas (for `kubectl explain`) are not served.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from pilothouse.sim.resources import ResourceRegistry, ResourceType

_FIELD_VALIDATION = {
    "name": "fieldValidation",
    "in": "query",
    "schema": {"type": "string", "uniqueItems": True},
    "description": "How the server handles unknown or duplicate fields: Ignore, Warn or Strict.",
}
_DRY_RUN = {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}}


def group_version_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def root_document(registry: ResourceRegistry) -> dict[str, Any]:
    paths = {}
    for group, versions in registry.groups():
        for version in versions:
            path = group_version_path(group, version)
            digest = hashlib.sha256(
                orjson.dumps(group_version_document(registry, group, version))
            ).hexdigest()
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest[:32].upper()}"}
    return {"paths": paths}


def _operation(resource: ResourceType, action: str) -> dict[str, Any]:
    parameters = [_FIELD_VALIDATION, _DRY_RUN] if action in ("post", "put", "patch") else []
    return {
        "operationId": f"{action}{resource.kind}",
        "parameters": parameters,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {
            "group": resource.group,
            "version": resource.version,
            "kind": resource.kind,
        },
    }


def group_version_document(registry: ResourceRegistry, group: str, version: str) -> dict[str, Any]:
    prefix = "/" + group_version_path(group, version)
    paths: dict[str, Any] = {}
    for resource in registry.in_group_version(group, version):
        scope = f"{prefix}/namespaces/{{namespace}}" if resource.namespaced else prefix
        writable = "create" in resource.verbs
        collection: dict[str, Any] = {"get": _operation(resource, "list")}
        item: dict[str, Any] = {"get": _operation(resource, "get")}
        if writable:
            collection["post"] = _operation(resource, "post")
            item.update(
                put=_operation(resource, "put"),
                patch=_operation(resource, "patch"),
                delete=_operation(resource, "delete"),
            )
        paths[f"{scope}/{resource.plural}"] = collection
        paths[f"{scope}/{resource.plural}/{{name}}"] = item
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.37.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }
