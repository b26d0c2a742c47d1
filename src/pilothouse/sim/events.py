"""Event recording with the real event correlator's aggregation (count, first/last timestamps)."""

from __future__ import annotations

from typing import Any

from pilothouse.sim.objects import ObjectService
from pilothouse.sim.resources import ResourceType
from pilothouse.sim.store import JsonObject, clone

NORMAL, WARNING = "Normal", "Warning"


class EventRecorder:
    """Writes core/v1 Events; a repeat of the same event bumps the count of the existing one."""

    def __init__(self, objects: ObjectService, events: ResourceType) -> None:
        self.objects = objects
        self.events = events
        # (namespace, uid, type, reason, message, component) -> event name
        self._seen: dict[tuple[str, ...], str] = {}

    def record(
        self,
        involved: JsonObject,
        event_type: str,
        reason: str,
        message: str,
        *,
        component: str,
        host: str | None = None,
        field_path: str | None = None,
    ) -> JsonObject:
        meta = involved["metadata"]
        namespace = meta.get("namespace") or "default"
        key = (namespace, meta.get("uid", ""), event_type, reason, message, component, field_path or "")
        now = self.objects.now()
        existing_name = self._seen.get(key)
        store = self.objects.store
        if existing_name:
            existing = store.get(self.events.storage_key, namespace, existing_name)
            if existing is not None:
                updated = clone(existing)
                updated["count"] = existing.get("count", 1) + 1
                updated["lastTimestamp"] = now
                return store.update(self.events.storage_key, updated)
        source: dict[str, Any] = {"component": component}
        if host:
            source["host"] = host
        involved_ref: dict[str, Any] = {
            "kind": involved.get("kind"),
            "namespace": meta.get("namespace"),
            "name": meta["name"],
            "uid": meta.get("uid"),
            "apiVersion": involved.get("apiVersion"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        if not meta.get("namespace"):
            involved_ref.pop("namespace")
        if field_path:
            involved_ref["fieldPath"] = field_path
        # Real event names are the object's name and the creation time in nanoseconds, in hex.
        stamp = int(self.objects.clock.now() * 1e9) + store.resource_version
        event: JsonObject = {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {
                "name": f"{meta['name']}.{stamp:x}",
                "namespace": namespace,
                "uid": self.objects.new_uid(),
                "creationTimestamp": now,
            },
            "involvedObject": involved_ref,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": event_type,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": host or "",
        }
        created = store.create(self.events.storage_key, event)
        self._seen[key] = created["metadata"]["name"]
        return created
