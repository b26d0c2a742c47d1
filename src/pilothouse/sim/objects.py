"""The write path shared by API requests and controllers: the sim's registry strategies.

API requests get defaulting, validation, optimistic concurrency, generation tracking,
graceful deletion and finalizers here; controllers use `save` / `save_status`, which skip
validation (controllers only write what they computed) but keep the same bookkeeping.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pilothouse.sim import status
from pilothouse.sim.defaults import apply_defaults
from pilothouse.sim.engine import SimClock
from pilothouse.sim.patch import PatchError, apply_patch
from pilothouse.sim.resources import ResourceRegistry, ResourceType
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import JsonObject, ObjectStore, clone
from pilothouse.sim.validation import InvalidObject, validate_create, validate_update

# What a name suffix generated for `generateName` and by controllers may contain (no vowels,
# no confusable characters), as apimachinery's rand.String does.
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class DeleteOptions:
    propagation_policy: str | None = None  # Orphan | Background | Foreground
    grace_period_seconds: int | None = None
    precondition_uid: str | None = None
    precondition_resource_version: str | None = None


class ObjectService:
    """Creates, updates, patches and deletes objects the way the real API server's registry does."""

    def __init__(
        self, registry: ResourceRegistry, store: ObjectStore, clock: SimClock, rng: random.Random
    ) -> None:
        self.registry = registry
        self.store = store
        self.clock = clock
        self.rng = rng
        # Admission checks run on every create, from clients and controllers alike (service
        # account existence, quota): each raises StatusError to refuse.
        self.admission: list[Callable[[ResourceType, JsonObject], None]] = []

    def admit(self, resource: ResourceType, obj: JsonObject) -> None:
        for check in self.admission:
            check(resource, obj)

    # Helpers shared with controllers ---------------------------------------------------------

    def now(self) -> str:
        return rfc3339(self.clock.now())

    def new_uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def random_suffix(self, length: int = 5) -> str:
        return "".join(self.rng.choice(NAME_ALPHABET) for _ in range(length))

    def get(self, resource: ResourceType, namespace: str, name: str) -> JsonObject:
        obj = self.store.get(resource.storage_key, namespace if resource.namespaced else "", name)
        if obj is None:
            raise status.not_found(resource.group, resource.plural, name)
        return obj

    # Create ----------------------------------------------------------------------------------

    def create(
        self, resource: ResourceType, body: Any, *, namespace: str | None, dry_run: bool = False
    ) -> JsonObject:
        obj = self._check_body(resource, body, namespace)
        meta = obj["metadata"]
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + self.random_suffix()
            else:
                raise StatusError(
                    422,
                    "Invalid",
                    f'{resource.group_kind} "" is invalid: metadata.name: Required '
                    "value: name or generateName is required",
                    {
                        "kind": resource.kind,
                        "group": resource.group,
                        "causes": [
                            {
                                "reason": "FieldValueRequired",
                                "field": "metadata.name",
                                "message": "Required value: name or generateName is required",
                            }
                        ],
                    },
                )
        if resource.namespaced:
            self._check_namespace_accepts(resource, meta["namespace"], meta["name"])
        for field in (
            "uid",
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        ):
            meta.pop(field, None)
        meta["uid"] = self.new_uid()
        meta["creationTimestamp"] = self.now()
        if _has_spec(obj):
            meta["generation"] = 1
        apply_defaults(resource.group, resource.kind, obj)
        try:
            validate_create(resource.kind, resource.group, obj, namespaced=resource.namespaced)
        except InvalidObject as err:
            raise StatusError.from_status(err.to_status()) from None
        self.admit(resource, obj)
        if dry_run:
            if self.store.get(resource.storage_key, meta.get("namespace", ""), meta["name"]) is not None:
                raise status.already_exists(resource.group, resource.plural, meta["name"])
            meta["resourceVersion"] = str(self.store.resource_version)
            return obj
        return self.store.create(resource.storage_key, obj)

    def _check_body(self, resource: ResourceType, body: Any, namespace: str | None) -> JsonObject:
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise status.bad_request("the body of the request must be a JSON object with object metadata")
        try:
            obj = clone(body)
        except TypeError:  # orjson.JSONEncodeError: e.g. lone surrogates that YAML lets through
            raise status.bad_request("the body of the request has text that is not valid UTF-8") from None
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind and kind != resource.kind:
            raise status.bad_request(
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({resource.api_version})"
                if api_version != resource.api_version
                else f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})"
            )
        if api_version and api_version != resource.api_version:
            raise status.bad_request(
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({resource.api_version})"
            )
        obj["kind"], obj["apiVersion"] = resource.kind, resource.api_version
        meta = obj.setdefault("metadata", {})
        if resource.namespaced:
            body_namespace = meta.get("namespace")
            if namespace and body_namespace and body_namespace != namespace:
                raise status.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace or body_namespace or "default"
        else:
            meta.pop("namespace", None)
        return obj

    def _check_namespace_accepts(self, resource: ResourceType, namespace: str, name: str) -> None:
        ns = self.store.get(("", "namespaces"), "", namespace)
        if ns is None:
            raise status.not_found("", "namespaces", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise status.namespace_terminating(namespace, resource.plural, name)

    # Update and patch --------------------------------------------------------------------------

    def replace(
        self,
        resource: ResourceType,
        body: Any,
        *,
        namespace: str | None,
        name: str,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> JsonObject:
        obj = self._check_body(resource, body, namespace)
        if obj["metadata"].get("name") and obj["metadata"]["name"] != name:
            raise status.bad_request(
                "the name of the object "
                f"({obj['metadata']['name']}) does not match the name on the URL ({name})"
            )
        obj["metadata"]["name"] = name
        current = self.get(resource, obj["metadata"].get("namespace", ""), name)
        expected = obj["metadata"].get("resourceVersion")
        if expected and expected != current["metadata"]["resourceVersion"]:
            raise status.conflict(resource.group, resource.plural, name)
        merged = self._merge_update(resource, current, obj, subresource)
        # The real API server defaults on every write, so a replaced template compares equal.
        apply_defaults(resource.group, resource.kind, merged)
        try:
            validate_update(resource.kind, resource.group, merged, current, namespaced=resource.namespaced)
        except InvalidObject as err:
            raise StatusError.from_status(err.to_status()) from None
        if dry_run:
            return merged
        saved = self.store.update(resource.storage_key, merged, expected)
        return self._finish_if_unblocked(resource, saved)

    def patch(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        body: bytes,
        content_type: str,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> JsonObject:
        current = self.get(resource, namespace, name)
        try:
            patched = apply_patch(current, body, content_type, resource.kind, resource.group)
        except PatchError as err:
            raise StatusError(err.status_code, err.reason, err.message) from None
        patched_version = (patched.get("metadata") or {}).get("resourceVersion")
        if patched_version and patched_version != current["metadata"]["resourceVersion"]:
            raise status.conflict(resource.group, resource.plural, name)
        return self.replace(
            resource, patched, namespace=namespace, name=name, subresource=subresource, dry_run=dry_run
        )

    def _merge_update(
        self, resource: ResourceType, current: JsonObject, incoming: JsonObject, subresource: str | None
    ) -> JsonObject:
        meta = incoming["metadata"]
        old_meta = current["metadata"]
        for field in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "namespace",
        ):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        if subresource == "status":
            merged = clone(current)
            merged["status"] = incoming.get("status", {})
            return merged
        if "status" in resource.subresources:
            if "status" in current:
                incoming["status"] = current["status"]
            else:
                incoming.pop("status", None)
        if _spec_of(incoming) != _spec_of(current) and "generation" in old_meta:
            meta["generation"] = old_meta["generation"] + 1
        return incoming

    # Controllers' writes ---------------------------------------------------------------------

    def save(self, resource: ResourceType, obj: JsonObject) -> JsonObject:
        """Store a controller's change to an existing object, bumping generation on spec changes."""
        current = self.store.get(
            resource.storage_key, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
        )
        # Binding and kubelet updates never move a pod's generation; other controllers' spec edits do.
        if (
            current is not None
            and "generation" in current["metadata"]
            and resource.kind != "Pod"
            and _spec_of(obj) != _spec_of(current)
        ):
            obj["metadata"]["generation"] = current["metadata"]["generation"] + 1
        saved = self.store.update(resource.storage_key, obj)
        return self._finish_if_unblocked(resource, saved)

    def create_owned(self, resource: ResourceType, obj: JsonObject) -> JsonObject:
        """A controller creates an object (defaulted, stamped, not validated against user rules)."""
        meta = obj["metadata"]
        meta["uid"] = self.new_uid()
        meta["creationTimestamp"] = self.now()
        if _has_spec(obj):
            meta["generation"] = 1
        obj["kind"], obj["apiVersion"] = resource.kind, resource.api_version
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + self.random_suffix()
        apply_defaults(resource.group, resource.kind, obj)
        self.admit(resource, obj)
        return self.store.create(resource.storage_key, obj)

    # Delete ----------------------------------------------------------------------------------

    def delete(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        options: DeleteOptions,
        *,
        dry_run: bool = False,
    ) -> JsonObject:
        """Returns the object still being deleted, or a Success Status when it is gone."""
        current = self.get(resource, namespace, name)
        meta = current["metadata"]
        if options.precondition_uid and options.precondition_uid != meta.get("uid"):
            raise StatusError(
                409,
                "Conflict",
                f"Precondition failed: UID in precondition: "
                f"{options.precondition_uid}, UID in object meta: {meta.get('uid')}",
            )
        if options.precondition_resource_version and options.precondition_resource_version != meta.get(
            "resourceVersion"
        ):
            raise status.conflict(resource.group, resource.plural, name)
        if dry_run:
            return current
        obj = clone(current)
        finalizers = list(obj["metadata"].get("finalizers") or [])
        policy = options.propagation_policy
        if policy == "Foreground" and FOREGROUND not in finalizers:
            finalizers.append(FOREGROUND)
        elif policy == "Orphan" and ORPHAN not in finalizers:
            finalizers.append(ORPHAN)

        graceful = self._grace_period(resource, current, options)
        if resource.kind == "Namespace" and not resource.group:
            obj["status"] = {**obj.get("status", {}), "phase": "Terminating"}
        elif not finalizers and graceful is None:
            gone = self.store.delete(resource.storage_key, meta.get("namespace", ""), name)
            return _success(resource, gone)
        if meta.get("deletionTimestamp"):
            # Already terminating: only a shorter grace period changes anything.
            if graceful is not None and graceful < (meta.get("deletionGracePeriodSeconds") or 0):
                obj["metadata"]["deletionGracePeriodSeconds"] = graceful
                obj["metadata"]["deletionTimestamp"] = rfc3339(self.clock.now() + graceful)
                return self.store.update(resource.storage_key, obj)
            if finalizers != (meta.get("finalizers") or []):
                obj["metadata"]["finalizers"] = finalizers
                return self.store.update(resource.storage_key, obj)
            return current
        obj["metadata"]["finalizers"] = finalizers
        obj["metadata"]["deletionTimestamp"] = rfc3339(self.clock.now() + (graceful or 0))
        obj["metadata"]["deletionGracePeriodSeconds"] = graceful or 0
        if not finalizers:
            obj["metadata"].pop("finalizers")
        return self.store.update(resource.storage_key, obj)

    def _grace_period(self, resource: ResourceType, obj: JsonObject, options: DeleteOptions) -> int | None:
        """Seconds of graceful termination for a pod that a kubelet must stop; None for immediate removal."""
        if resource.kind != "Pod" or resource.group:
            return None
        spec, pod_status = obj.get("spec", {}), obj.get("status", {})
        grace = options.grace_period_seconds
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        # An unscheduled or finished pod has nothing to stop; grace 0 means force.
        if grace <= 0 or not spec.get("nodeName") or pod_status.get("phase") in ("Succeeded", "Failed"):
            return None
        return int(grace)

    def remove_finalizer(self, resource: ResourceType, obj: JsonObject, finalizer: str) -> JsonObject | None:
        updated = clone(obj)
        finalizers = [f for f in updated["metadata"].get("finalizers") or [] if f != finalizer]
        updated["metadata"]["finalizers"] = finalizers
        if not finalizers:
            updated["metadata"].pop("finalizers")
        saved = self.store.update(resource.storage_key, updated)
        return self._finish_if_unblocked(resource, saved)

    def finish_deletion(self, resource: ResourceType, obj: JsonObject) -> None:
        """Remove an object whose deletion has nothing left to wait for (the kubelet's final delete)."""
        meta = obj["metadata"]
        if self.store.get(resource.storage_key, meta.get("namespace", ""), meta["name"]) is not None:
            self.store.delete(resource.storage_key, meta.get("namespace", ""), meta["name"])

    def _finish_if_unblocked(self, resource: ResourceType, obj: JsonObject) -> JsonObject:
        meta = obj["metadata"]
        if (
            meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and self._grace_period(resource, obj, DeleteOptions()) is None
            and not (resource.kind == "Namespace" and not resource.group)
        ):
            self.store.delete(resource.storage_key, meta.get("namespace", ""), meta["name"])
        return obj


def _has_spec(obj: JsonObject) -> bool:
    return "spec" in obj or obj.get("kind") in ("Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")


def _spec_of(obj: JsonObject) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}


def _success(resource: ResourceType, obj: JsonObject) -> JsonObject:
    details: dict[str, Any] = {
        "name": obj["metadata"]["name"],
        "kind": resource.plural,
        "uid": obj["metadata"].get("uid"),
    }
    if resource.group:
        details["group"] = resource.group
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
