"""Pod facts every controller needs: readiness, availability, templates and their hashes."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from pilothouse.sim.objects import NAME_ALPHABET, parse_time
from pilothouse.sim.store import JsonObject, clone
from pilothouse.sim.validation import parse_quantity


def pod_condition_true(pod: JsonObject, condition_type: str) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == condition_type:
            return bool(cond.get("status") == "True")
    return False


def is_pod_ready(pod: JsonObject) -> bool:
    return pod_condition_true(pod, "Ready")


def is_pod_terminal(pod: JsonObject) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_pod_active(pod: JsonObject) -> bool:
    """Counts toward a controller's replicas: not finished and not being deleted."""
    return not is_pod_terminal(pod) and not pod["metadata"].get("deletionTimestamp")


def is_pod_available(pod: JsonObject, min_ready_seconds: int, now: float) -> bool:
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    for cond in pod.get("status", {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            since = parse_time(cond.get("lastTransitionTime"))
            return since is not None and since + min_ready_seconds <= now
    return False


def template_hash(template: JsonObject, collisions: int = 0) -> str:
    """A stable short hash of a pod template, spelled like pod-template-hash labels are."""
    digest = hashlib.sha256(orjson.dumps(template, option=orjson.OPT_SORT_KEYS) + str(collisions).encode())
    number = int.from_bytes(digest.digest()[:8], "big")
    chars = []
    for _ in range(10):
        number, index = divmod(number, len(NAME_ALPHABET))
        chars.append(NAME_ALPHABET[index])
    return "".join(chars)


def pod_from_template(
    template: JsonObject,
    *,
    name: str | None = None,
    generate_name: str | None = None,
    namespace: str,
    owner_ref: JsonObject | None,
    extra_labels: dict[str, str] | None = None,
) -> JsonObject:
    """A new Pod object from a pod template, as controllers create them."""
    template = clone(template)
    meta: dict[str, Any] = dict(template.get("metadata") or {})
    meta.pop("creationTimestamp", None)
    meta["namespace"] = namespace
    if name:
        meta["name"] = name
    if generate_name:
        meta["generateName"] = generate_name
    labels = dict(meta.get("labels") or {})
    labels.update(extra_labels or {})
    meta["labels"] = labels
    if owner_ref:
        meta["ownerReferences"] = [owner_ref]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec", {})}


def container_requests(pod: JsonObject) -> dict[str, Any]:
    """Effective requests of a pod for scheduling: max(largest init container, sum of containers)."""
    totals: dict[str, float] = {}
    for container in pod.get("spec", {}).get("containers") or []:
        for name, value in ((container.get("resources") or {}).get("requests") or {}).items():
            totals[name] = totals.get(name, 0.0) + float(parse_quantity(str(value)))
    for container in pod.get("spec", {}).get("initContainers") or []:
        for name, value in ((container.get("resources") or {}).get("requests") or {}).items():
            totals[name] = max(totals.get(name, 0.0), float(parse_quantity(str(value))))
    return totals
