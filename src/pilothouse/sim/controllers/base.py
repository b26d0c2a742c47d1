"""What every controller is given, and the small contract a controller fulfils.

A controller declares which resources it watches and maps each change to the keys it must
reconcile; the engine calls `reconcile(key)` for each key, one at a time, in order. Reconcilers
are synchronous and read the store directly: the whole cluster lives in this process.
"""

from __future__ import annotations

import builtins
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from pilothouse.sim.engine import Engine, SimClock
from pilothouse.sim.events import EventRecorder
from pilothouse.sim.objects import ObjectService
from pilothouse.sim.resources import ResourceRegistry, ResourceType
from pilothouse.sim.selectors import LabelSelector
from pilothouse.sim.store import JsonObject, ObjectStore, StorageKey, StoreEvent

KeyMapper = Callable[[StoreEvent], Iterable[str]]


def key_of(obj: JsonObject) -> str:
    """`namespace/name`, or `name` for cluster-scoped objects (the work-queue key)."""
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


def split_key(key: str) -> tuple[str, str]:
    namespace, _, name = key.rpartition("/")
    return namespace, name


def own_key(event: StoreEvent) -> Iterable[str]:
    return (key_of(event.object),)


def controller_owner_keys(kind: str) -> KeyMapper:
    """Map a dependent's change to its controlling owner of `kind` (e.g. pods → their ReplicaSet)."""

    def mapper(event: StoreEvent) -> Iterable[str]:
        namespace = event.object["metadata"].get("namespace", "")
        for ref in event.object["metadata"].get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == kind:
                yield f"{namespace}/{ref['name']}" if namespace else ref["name"]

    return mapper


class PodUsageSource(Protocol):
    """Live CPU (cores) and memory (bytes) of a pod's running containers; None without metrics."""

    def pod_usage(self, pod: JsonObject) -> dict[str, float] | None: ...


class Controller(Protocol):
    name: str

    def watches(self) -> dict[StorageKey, KeyMapper]: ...

    def reconcile(self, key: str) -> None: ...


@dataclass
class OwnerIndex:
    """owner uid → dependents, kept current by a store listener (garbage collection, controllers)."""

    _dependents: dict[str, set[tuple[StorageKey, str, str]]] = field(default_factory=dict)
    # (resource, namespace) → names of objects with no controller: the ones an owner may adopt.
    _orphans: dict[tuple[StorageKey, str], set[str]] = field(default_factory=dict)

    def on_event(self, key: StorageKey, event: StoreEvent) -> None:
        meta = event.object["metadata"]
        namespace = meta.get("namespace", "")
        ident = (key, namespace, meta["name"])
        if event.previous is not None:
            for ref in event.previous["metadata"].get("ownerReferences") or []:
                self._dependents.get(ref.get("uid", ""), set()).discard(ident)
        orphans = self._orphans.setdefault((key, namespace), set())
        orphans.discard(meta["name"])
        if event.type != "DELETED":
            refs = meta.get("ownerReferences") or []
            for ref in refs:
                self._dependents.setdefault(ref.get("uid", ""), set()).add(ident)
            if not any(ref.get("controller") for ref in refs):
                orphans.add(meta["name"])

    def dependents(self, owner_uid: str) -> list[tuple[StorageKey, str, str]]:
        return sorted(self._dependents.get(owner_uid, ()))

    def orphans(self, key: StorageKey, namespace: str) -> list[str]:
        return sorted(self._orphans.get((key, namespace), ()))


@dataclass
class ControllerContext:
    registry: ResourceRegistry
    store: ObjectStore
    objects: ObjectService
    engine: Engine
    clock: SimClock
    events: EventRecorder
    rng: random.Random
    owners: OwnerIndex
    # The kubelet's metrics, for the autoscaler; set once the kubelet exists.
    pod_usage_source: PodUsageSource | None = None

    def resource(self, group: str, kind: str) -> ResourceType:
        resource = self.registry.by_kind(group, kind)
        if resource is None:
            raise KeyError(f"{kind}.{group} is not served")
        return resource

    def get(self, resource: ResourceType, key: str) -> JsonObject | None:
        namespace, name = split_key(key)
        return self.store.get(resource.storage_key, namespace, name)

    def list(
        self, resource: ResourceType, namespace: str | None = None, selector: LabelSelector | None = None
    ) -> list[JsonObject]:
        items = self.store.list(resource.storage_key, namespace)
        if selector is not None:
            items = [o for o in items if selector.matches(o["metadata"].get("labels"))]
        return items

    def claim_candidates(self, owner: JsonObject, resource: ResourceType) -> builtins.list[JsonObject]:
        """What `owner` may claim: the objects it controls and the orphans of its namespace.

        Found through the owner index instead of listing the namespace, so a controller's
        reconcile costs what it owns, not what the namespace holds.
        """
        namespace = owner["metadata"].get("namespace", "")
        names = {
            name
            for key, ns, name in self.owners.dependents(owner["metadata"]["uid"])
            if key == resource.storage_key and ns == namespace
        }
        names.update(self.owners.orphans(resource.storage_key, namespace))
        found = (self.store.get(resource.storage_key, namespace, name) for name in sorted(names))
        return [obj for obj in found if obj is not None]

    def owned(self, owner: JsonObject, resource: ResourceType) -> builtins.list[JsonObject]:
        """Objects of `resource` whose controller reference points at `owner`."""
        uid = owner["metadata"]["uid"]
        result: builtins.list[JsonObject] = []
        for storage_key, namespace, name in self.owners.dependents(uid):
            if storage_key != resource.storage_key:
                continue
            obj = self.store.get(storage_key, namespace, name)
            if obj is not None and any(
                r.get("uid") == uid and r.get("controller")
                for r in obj["metadata"].get("ownerReferences") or []
            ):
                result.append(obj)
        return result


def controller_ref(owner: JsonObject) -> JsonObject:
    """The ownerReference a controller stamps on what it creates."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def condition(obj: JsonObject, condition_type: str) -> JsonObject | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == condition_type:
            return dict(cond)
    return None


def set_condition(
    status: JsonObject,
    condition_type: str,
    value: str,
    reason: str,
    message: str,
    now: str,
    *,
    probe_times: bool = False,
) -> None:
    """Set a condition, moving lastTransitionTime only when the status value changes."""
    conditions: list[JsonObject] = status.setdefault("conditions", [])
    for cond in conditions:
        if cond["type"] == condition_type:
            if cond.get("status") != value:
                cond["lastTransitionTime"] = now
            cond.update(status=value, reason=reason, message=message)
            if probe_times:
                cond["lastUpdateTime"] = now
            return
    new: JsonObject = {
        "type": condition_type,
        "status": value,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }
    if probe_times:
        new["lastUpdateTime"] = now
    conditions.append(new)
