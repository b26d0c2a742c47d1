"""Namespace lifecycle: empties a terminating namespace, then finalizes and removes it.

As kube-controller-manager's namespace controller does, it deletes every namespaced object in
the namespace (pods gracefully: the kubelet finishes them), reports progress in the same five
conditions with the same reasons and messages, and once nothing is left removes the
`kubernetes` finalizer from spec.finalizers and the Namespace itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pilothouse.sim.controllers.base import ControllerContext, KeyMapper, set_condition
from pilothouse.sim.objects import DeleteOptions
from pilothouse.sim.resources import ResourceType
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import JsonObject, StorageKey, StoreEvent, clone

KUBERNETES_FINALIZER = "kubernetes"


class NamespaceController:
    name = "namespace"

    def __init__(self, context: ControllerContext) -> None:
        self.context = context
        self.namespaces = context.resource("", "Namespace")
        # Any namespaced object going away may be the last thing a terminating namespace waits for.
        context.store.add_listener(self._on_change)

    def watches(self) -> dict[StorageKey, KeyMapper]:
        def namespace_key(event: StoreEvent) -> Iterable[str]:
            return (event.object["metadata"]["name"],) if event.type != "DELETED" else ()

        return {self.namespaces.storage_key: namespace_key}

    def _on_change(self, storage_key: StorageKey, event: StoreEvent) -> None:
        namespace = event.object["metadata"].get("namespace")
        if event.type != "DELETED" or not namespace:
            return
        ns = self.context.store.get(self.namespaces.storage_key, "", namespace)
        if ns is not None and ns["metadata"].get("deletionTimestamp"):
            self.context.engine.enqueue(self.name, namespace)

    def reconcile(self, key: str) -> None:
        namespace = self.context.store.get(self.namespaces.storage_key, "", key)
        if namespace is None or not namespace["metadata"].get("deletionTimestamp"):
            return
        if KUBERNETES_FINALIZER in ((namespace.get("spec") or {}).get("finalizers") or []):
            remaining = self._delete_content(key)
            namespace = self._report(namespace, remaining)
            if remaining:
                return
            namespace = self._remove_spec_finalizer(namespace)
        if not (namespace.get("spec") or {}).get("finalizers") and not namespace["metadata"].get(
            "finalizers"
        ):
            self.context.store.delete(self.namespaces.storage_key, "", key)

    def _content_resources(self) -> list[ResourceType]:
        """One resource per storage (events are served twice) for every deletable namespaced kind."""
        seen: dict[StorageKey, ResourceType] = {}
        for resource in self.context.registry:
            if resource.namespaced and "delete" in resource.verbs:
                seen.setdefault(resource.storage_key, resource)
        return list(seen.values())

    def _delete_content(self, namespace: str) -> dict[ResourceType, list[JsonObject]]:
        """Delete what is left; returns what still exists afterwards, by resource."""
        remaining: dict[ResourceType, list[JsonObject]] = {}
        for resource in self._content_resources():
            for obj in self.context.store.list(resource.storage_key, namespace):
                if not obj["metadata"].get("deletionTimestamp"):
                    try:
                        self.context.objects.delete(
                            resource,
                            namespace,
                            obj["metadata"]["name"],
                            DeleteOptions(propagation_policy="Background"),
                        )
                    except StatusError as err:
                        if err.code != 404:
                            raise
            left = self.context.store.list(resource.storage_key, namespace)
            if left:
                remaining[resource] = left
        return remaining

    def _report(self, namespace: JsonObject, remaining: dict[ResourceType, list[JsonObject]]) -> JsonObject:
        updated = clone(namespace)
        status = updated.setdefault("status", {})
        now = self.context.objects.now()
        set_condition(
            status,
            "NamespaceDeletionDiscoveryFailure",
            "False",
            "ResourcesDiscovered",
            "All resources successfully discovered",
            now,
        )
        set_condition(
            status,
            "NamespaceDeletionGroupVersionParsingFailure",
            "False",
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
            now,
        )
        set_condition(
            status,
            "NamespaceDeletionContentFailure",
            "False",
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
            now,
        )
        if remaining:
            counts = sorted(
                f"{r.plural}.{r.group} has {len(objs)} resource instances" for r, objs in remaining.items()
            )
            set_condition(
                status,
                "NamespaceContentRemaining",
                "True",
                "SomeResourcesRemain",
                f"Some resources are remaining: {', '.join(counts)}",
                now,
            )
        else:
            set_condition(
                status,
                "NamespaceContentRemaining",
                "False",
                "ContentRemoved",
                "All content successfully removed",
                now,
            )
        finalizers: Counter[str] = Counter(
            finalizer
            for objs in remaining.values()
            for obj in objs
            for finalizer in obj["metadata"].get("finalizers") or []
        )
        if finalizers:
            listed = sorted(
                f"{finalizer} in {count} resource instances" for finalizer, count in finalizers.items()
            )
            set_condition(
                status,
                "NamespaceFinalizersRemaining",
                "True",
                "SomeFinalizersRemain",
                f"Some content in the namespace has finalizers remaining: {', '.join(listed)}",
                now,
            )
        else:
            set_condition(
                status,
                "NamespaceFinalizersRemaining",
                "False",
                "ContentHasNoFinalizers",
                "All content-preserving finalizers finished",
                now,
            )
        if status == namespace.get("status"):
            return namespace
        return self.context.objects.save(self.namespaces, updated)

    def _remove_spec_finalizer(self, namespace: JsonObject) -> JsonObject:
        updated = clone(namespace)
        spec = updated.setdefault("spec", {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != KUBERNETES_FINALIZER]
        if not spec["finalizers"]:
            spec.pop("finalizers")
        return self.context.objects.save(self.namespaces, updated)
