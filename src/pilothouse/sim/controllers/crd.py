"""CustomResourceDefinitions: serve a custom resource as soon as its CRD exists.

Mirrors the apiextensions-apiserver: the CRD's names are accepted (status.acceptedNames,
conditions NamesAccepted and Established), every served version appears in discovery with its
printer columns and subresources, and deleting the CRD removes the resource and its objects.
"""

from __future__ import annotations

from typing import Any

from pilothouse.sim.controllers.base import ControllerContext, KeyMapper, own_key, set_condition
from pilothouse.sim.resources import ResourceType
from pilothouse.sim.store import JsonObject, StorageKey, clone


def resource_types(crd: JsonObject) -> list[ResourceType]:
    """One ResourceType per served version of a CRD."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    result = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = tuple(sorted((version.get("subresources") or {}).keys()))
        columns: tuple[dict[str, Any], ...] = tuple(version.get("additionalPrinterColumns") or ())
        result.append(
            ResourceType(
                group=spec.get("group", ""),
                version=version["name"],
                kind=names.get("kind", ""),
                plural=names.get("plural", ""),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=subresources,
                printer_columns=columns,
                custom=True,
            )
        )
    return result


class CustomResourceDefinitionController:
    name = "customresourcedefinitions"

    def __init__(self, context: ControllerContext) -> None:
        self.context = context
        self.crds = context.resource("apiextensions.k8s.io", "CustomResourceDefinition")
        self._served: dict[str, tuple[str, str]] = {}  # CRD name → (group, plural) it serves

    def watches(self) -> dict[StorageKey, KeyMapper]:
        return {self.crds.storage_key: own_key}

    def reconcile(self, key: str) -> None:
        crd = self.context.store.get(self.crds.storage_key, "", key)
        previous = self._served.pop(key, None)
        if previous:
            self.context.registry.remove_group_resource(*previous)
        if crd is None or crd["metadata"].get("deletionTimestamp"):
            if previous:
                self._delete_instances(previous)
            if crd is not None:
                self.context.objects.finish_deletion(self.crds, crd)
            return
        served = resource_types(crd)
        for resource in served:
            self.context.registry.add(resource)
        if served:
            self._served[key] = (served[0].group, served[0].plural)
        self._accept(crd)

    def _delete_instances(self, storage: tuple[str, str]) -> None:
        """A CRD's objects go with it (the real server's customresourcecleanup finalizer)."""
        for obj in self.context.store.list(storage):
            meta = obj["metadata"]
            self.context.store.delete(storage, meta.get("namespace", ""), meta["name"])

    def _accept(self, crd: JsonObject) -> None:
        updated = clone(crd)
        status = updated.setdefault("status", {})
        now = self.context.objects.now()
        status["acceptedNames"] = dict(crd["spec"].get("names") or {})
        status["storedVersions"] = [v["name"] for v in crd["spec"].get("versions") or [] if v.get("storage")]
        set_condition(status, "NamesAccepted", "True", "NoConflicts", "no conflicts found", now)
        set_condition(
            status, "Established", "True", "InitialNamesAccepted", "the initial names have been accepted", now
        )
        if updated["status"] != crd.get("status"):
            self.context.store.update(self.crds.storage_key, updated)
