"""The garbage collector: deletes dependents whose owners are gone, and carries out foreground
and orphan deletion, for every resource the server serves (custom resources included).

It follows kube-controller-manager's garbagecollector: each dependent's owners are sorted into
solid (present), dangling (gone, or a different uid) and waiting (being deleted in the
foreground); a dependent with no solid owner is deleted, one with some solid owners loses its
references to the others. Owners carrying the `foregroundDeletion` finalizer wait for their
blocking dependents to disappear; owners carrying `orphan` release theirs first.
"""

from __future__ import annotations

from dataclasses import dataclass

from pilothouse.sim.controllers.base import ControllerContext, KeyMapper
from pilothouse.sim.objects import FOREGROUND, ORPHAN, DeleteOptions
from pilothouse.sim.resources import ResourceType
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import JsonObject, StorageKey, StoreEvent, clone

_SEPARATOR = "|"
# Work keys: what to do, then the object's storage key, namespace and name.
DEPENDENT, OWNER = "dependent", "owner"


@dataclass(frozen=True)
class _Item:
    action: str
    storage_key: StorageKey
    namespace: str
    name: str

    def key(self) -> str:
        return _SEPARATOR.join((self.action, *self.storage_key, self.namespace, self.name))

    @classmethod
    def parse(cls, key: str) -> _Item:
        action, group, plural, namespace, name = key.split(_SEPARATOR)
        return cls(action, (group, plural), namespace, name)


class GarbageCollector:
    name = "garbage-collector"

    def __init__(self, context: ControllerContext) -> None:
        self.context = context
        # Listen to every resource rather than a fixed list: custom resources come and go.
        context.store.add_listener(self._on_change)

    def watches(self) -> dict[StorageKey, KeyMapper]:
        return {}

    def _enqueue(self, item: _Item) -> None:
        self.context.engine.enqueue(self.name, item.key())

    def _on_change(self, storage_key: StorageKey, event: StoreEvent) -> None:
        meta = event.object["metadata"]
        namespace = meta.get("namespace") or ""
        if event.type == "DELETED":
            # Its dependents may now be garbage; its owners may be waiting for it to go.
            for dep_key, dep_namespace, dep_name in self.context.owners.dependents(meta.get("uid", "")):
                self._enqueue(_Item(DEPENDENT, dep_key, dep_namespace, dep_name))
            for ref in meta.get("ownerReferences") or []:
                owner = self._owner_resource(ref)
                if owner is not None:
                    owner_namespace = namespace if owner.namespaced else ""
                    self._enqueue(_Item(OWNER, owner.storage_key, owner_namespace, ref.get("name", "")))
            return
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and (FOREGROUND in finalizers or ORPHAN in finalizers):
            self._enqueue(_Item(OWNER, storage_key, namespace, meta["name"]))
        previous_refs = (event.previous or {}).get("metadata", {}).get("ownerReferences")
        if meta.get("ownerReferences") and meta.get("ownerReferences") != previous_refs:
            # A new reference may point at an owner that never existed or is already gone.
            self._enqueue(_Item(DEPENDENT, storage_key, namespace, meta["name"]))

    def reconcile(self, key: str) -> None:
        item = _Item.parse(key)
        obj = self.context.store.get(item.storage_key, item.namespace, item.name)
        resource = self._resource_for(item.storage_key)
        if obj is None or resource is None:
            return
        if item.action == OWNER:
            self._process_deleting_owner(resource, obj)
        else:
            self._attempt_to_delete(resource, obj)

    # Owners being deleted -----------------------------------------------------------------------

    def _process_deleting_owner(self, resource: ResourceType, owner: JsonObject) -> None:
        meta = owner["metadata"]
        finalizers = meta.get("finalizers") or []
        if not meta.get("deletionTimestamp"):
            return
        if ORPHAN in finalizers:
            self._orphan_dependents(owner)
            self.context.objects.remove_finalizer(resource, owner, ORPHAN)
        elif FOREGROUND in finalizers:
            blocking = self._blocking_dependents(owner)
            if not blocking:
                self.context.objects.remove_finalizer(resource, owner, FOREGROUND)
                return
            for dep_resource, dependent in blocking:
                dep_meta = dependent["metadata"]
                if not _deleting_dependents(dependent):
                    self._enqueue(
                        _Item(
                            DEPENDENT,
                            dep_resource.storage_key,
                            dep_meta.get("namespace") or "",
                            dep_meta["name"],
                        )
                    )

    def _dependents(self, owner: JsonObject) -> list[tuple[ResourceType, JsonObject]]:
        found = []
        for storage_key, namespace, name in self.context.owners.dependents(owner["metadata"]["uid"]):
            dependent = self.context.store.get(storage_key, namespace, name)
            resource = self._resource_for(storage_key)
            if dependent is not None and resource is not None:
                found.append((resource, dependent))
        return found

    def _blocking_dependents(self, owner: JsonObject) -> list[tuple[ResourceType, JsonObject]]:
        uid = owner["metadata"]["uid"]
        return [
            (resource, dependent)
            for resource, dependent in self._dependents(owner)
            if any(
                ref.get("uid") == uid and ref.get("blockOwnerDeletion")
                for ref in dependent["metadata"].get("ownerReferences") or []
            )
        ]

    def _orphan_dependents(self, owner: JsonObject) -> None:
        uid = owner["metadata"]["uid"]
        for resource, dependent in self._dependents(owner):
            self._drop_references(resource, dependent, {uid})

    # Dependents -----------------------------------------------------------------------------------

    def _attempt_to_delete(self, resource: ResourceType, dependent: JsonObject) -> None:
        meta = dependent["metadata"]
        if meta.get("deletionTimestamp"):
            return  # already on its way out; a foreground one is handled as an owner
        solid, dangling, waiting = self._classify_owners(dependent)
        if not (solid or dangling or waiting):
            return
        if solid:
            if dangling or waiting:
                self._drop_references(resource, dependent, dangling | waiting)
            return
        if waiting and self.context.owners.dependents(meta["uid"]):
            # It has dependents of its own: delete it in the foreground too, so the owner waits for all.
            policy = "Foreground"
        else:
            policy = _policy_from_finalizers(meta.get("finalizers") or [])
        try:
            self.context.objects.delete(
                resource,
                meta.get("namespace") or "",
                meta["name"],
                DeleteOptions(propagation_policy=policy, precondition_uid=meta["uid"]),
            )
        except StatusError as err:
            if err.code not in (404, 409):
                raise

    def _classify_owners(self, dependent: JsonObject) -> tuple[set[str], set[str], set[str]]:
        """Owner uids split into (solid, dangling, waiting for dependents' deletion)."""
        solid: set[str] = set()
        dangling: set[str] = set()
        waiting: set[str] = set()
        namespace = dependent["metadata"].get("namespace") or ""
        for ref in dependent["metadata"].get("ownerReferences") or []:
            uid = ref.get("uid", "")
            owner = self._find_owner(ref, namespace)
            if owner is None:
                dangling.add(uid)
            elif owner["metadata"].get("deletionTimestamp") and FOREGROUND in (
                owner["metadata"].get("finalizers") or []
            ):
                waiting.add(uid)
            else:
                solid.add(uid)
        return solid, dangling, waiting

    def _find_owner(self, ref: JsonObject, dependent_namespace: str) -> JsonObject | None:
        """The owner a reference names, or None when it is gone (an unresolvable kind counts as gone)."""
        resource = self._owner_resource(ref)
        if resource is None:
            return None
        owner = self.context.store.get(
            resource.storage_key, dependent_namespace if resource.namespaced else "", ref.get("name", "")
        )
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            return None
        return owner

    def _drop_references(self, resource: ResourceType, dependent: JsonObject, uids: set[str]) -> None:
        updated = clone(dependent)
        refs = [r for r in updated["metadata"].get("ownerReferences") or [] if r.get("uid") not in uids]
        if refs:
            updated["metadata"]["ownerReferences"] = refs
        else:
            updated["metadata"].pop("ownerReferences", None)
        self.context.objects.save(resource, updated)

    # Resource lookups -------------------------------------------------------------------------------

    def _owner_resource(self, ref: JsonObject) -> ResourceType | None:
        registry = self.context.registry
        api_version, kind = ref.get("apiVersion", ""), ref.get("kind", "")
        group = api_version.rpartition("/")[0]
        return registry.by_api_version(api_version, kind) or registry.by_kind(group, kind)

    def _resource_for(self, storage_key: StorageKey) -> ResourceType | None:
        # Looked up each time: custom resources are added and removed while the cluster runs.
        return next((r for r in self.context.registry if r.storage_key == storage_key), None)


def _deleting_dependents(obj: JsonObject) -> bool:
    meta = obj["metadata"]
    return bool(meta.get("deletionTimestamp")) and FOREGROUND in (meta.get("finalizers") or [])


def _policy_from_finalizers(finalizers: list[str]) -> str:
    """Honour a propagation finalizer the dependent already carries; otherwise background."""
    if ORPHAN in finalizers:
        return "Orphan"
    if FOREGROUND in finalizers:
        return "Foreground"
    return "Background"
