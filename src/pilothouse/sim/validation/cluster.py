"""Namespaces, Nodes and PersistentVolumeClaims (pkg/apis/core/validation)."""

from __future__ import annotations

from typing import Final

from .errors import (
    DUPLICATE,
    Errors,
    FieldCause,
    GoEnum,
    GoStruct,
    child,
    duplicate,
    each_invalid,
    forbidden,
    invalid,
    not_supported,
    required,
    subscript,
)
from .fields import (
    JsonObject,
    as_list,
    as_map,
    as_text,
    describe_changes,
    quantity_field,
    quantity_or_zero,
    semantically_equal,
    spec_of,
)
from .formats import is_dns1123_subdomain, is_qualified_name, is_valid_label_value
from .labels import validate_label_selector
from .metadata import IMMUTABLE, kube_finalizer_errors
from .pods import TAINT_EFFECTS
from .quantity import canonical_quantity

_ACCESS_MODES: Final = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")


def validate_namespace(obj: JsonObject, old: JsonObject | None) -> Errors:
    # ValidateNamespace checks spec.finalizers without indexes, unlike metadata.finalizers.
    errs: Errors = []
    for name in map(as_text, as_list(as_map(obj.get("spec")).get("finalizers"))):
        errs += each_invalid("spec.finalizers", name, is_qualified_name(name))
        errs += kube_finalizer_errors(name, "spec.finalizers")
    return errs


def _taint_value(taint: JsonObject) -> GoStruct:
    return GoStruct(
        Key=as_text(taint.get("key")),
        Value=as_text(taint.get("value")),
        Effect=as_text(taint.get("effect")),
        TimeAdded=taint.get("timeAdded"),
    )


def validate_node(obj: JsonObject, old: JsonObject | None) -> Errors:
    errs: Errors = []
    seen: set[tuple[str, str]] = set()
    # The real code puts taint errors under metadata.taints, not spec.taints.
    for i, taint in enumerate(map(as_map, as_list(as_map(obj.get("spec")).get("taints")))):
        path = subscript("metadata.taints", i)
        key, value, effect = (
            as_text(taint.get("key")),
            as_text(taint.get("value")),
            as_text(taint.get("effect")),
        )
        errs += each_invalid(child(path, "key"), key, is_qualified_name(key))
        value_errs = is_valid_label_value(value)
        if value_errs:
            errs.append(invalid(child(path, "value"), value, ";".join(value_errs)))
        if not effect:
            errs.append(required(child(path, "effect")))
        elif effect not in TAINT_EFFECTS:
            errs.append(not_supported(child(path, "effect"), effect, TAINT_EFFECTS))
        if (key, effect) in seen:
            entry = duplicate(path, _taint_value(taint))
            errs.append(
                FieldCause(DUPLICATE, path, f"{entry.message}: taints must be unique by key and effect pair")
            )
            continue
        seen.add((key, effect))
    status = as_map(obj.get("status"))
    for field_name in ("capacity", "allocatable"):
        for resource, raw in as_map(status.get(field_name)).items():
            path = child("status", field_name, resource)
            amount, quantity_errs = quantity_field(raw, path)
            errs += quantity_errs
            if amount is not None and amount < 0:
                errs.append(
                    invalid(path, GoEnum(canonical_quantity(raw)), "must be greater than or equal to 0")
                )
    return errs


def node_transition(new: JsonObject, old: JsonObject) -> Errors:
    spec, old_spec = spec_of(new), spec_of(old)
    cidrs, old_cidrs = as_list(spec.get("podCIDRs")), as_list(old_spec.get("podCIDRs"))
    message = 'node updates may not change podCIDR except from "" to valid'
    errs: Errors = []
    if old_cidrs and len(cidrs) != len(old_cidrs):
        errs.append(forbidden("spec.podCIDRs", message))
    elif old_cidrs:
        errs += [forbidden("spec.podCIDRs", message) for a, b in zip(cidrs, old_cidrs, strict=True) if a != b]
    provider, old_provider = as_text(spec.get("providerID")), as_text(old_spec.get("providerID"))
    if old_provider and provider != old_provider:
        errs.append(
            forbidden("spec.providerID", 'node updates may not change providerID except from "" to valid')
        )
    return errs


def validate_pvc(obj: JsonObject, old: JsonObject | None) -> Errors:
    spec = as_map(obj.get("spec"))
    modes = [as_text(mode) for mode in as_list(spec.get("accessModes"))]
    errs: Errors = []
    if not modes:
        errs.append(required("spec.accessModes", "at least 1 access mode is required"))
    if spec.get("selector") is not None:
        errs += validate_label_selector(as_map(spec["selector"]), "spec.selector")
    errs += [
        not_supported("spec.accessModes", mode, _ACCESS_MODES) for mode in modes if mode not in _ACCESS_MODES
    ]
    if "ReadWriteOncePod" in modes and any(
        mode in _ACCESS_MODES and mode != "ReadWriteOncePod" for mode in modes
    ):
        errs.append(forbidden("spec.accessModes", "may not use ReadWriteOncePod with other access modes"))
    requests = as_map(as_map(spec.get("resources")).get("requests"))
    storage_path = "spec.resources[storage]"
    if "storage" not in requests:
        errs.append(required(storage_path))
    else:
        amount, quantity_errs = quantity_field(requests["storage"], storage_path)
        errs += quantity_errs
        if amount is not None and amount <= 0:
            errs.append(
                invalid(storage_path, canonical_quantity(requests["storage"]), "must be greater than zero")
            )
    storage_class = as_text(spec.get("storageClassName"))
    if storage_class:
        errs += each_invalid("spec.storageClassName", storage_class, is_dns1123_subdomain(storage_class))
    volume_mode = spec.get("volumeMode")
    if volume_mode is not None and volume_mode not in ("Block", "Filesystem"):
        errs.append(not_supported("spec.volumeMode", as_text(volume_mode), ["Block", "Filesystem"]))
    return errs


def pvc_transition(new: JsonObject, old: JsonObject) -> Errors:
    spec, old_spec = (
        {"volumeMode": "Filesystem", **spec_of(new)},
        {"volumeMode": "Filesystem", **spec_of(old)},
    )
    new_fixed, old_fixed = dict(spec), dict(old_spec)
    if not as_text(old_spec.get("volumeName")):  # the binder may set volumeName once
        old_fixed["volumeName"] = spec.get("volumeName")
    if old_spec.get("storageClassName") is None:  # a nil class may be set once
        old_fixed["storageClassName"] = spec.get("storageClassName")
    requests = as_map(as_map(spec.get("resources")).get("requests"))
    old_requests = as_map(as_map(old_spec.get("resources")).get("requests"))
    phase = as_text(as_map(new.get("status")).get("phase")) or as_text(as_map(old.get("status")).get("phase"))
    if phase == "Bound" and requests:
        resources = as_map(spec.get("resources"))
        new_fixed["resources"] = {
            **resources,
            "requests": {**requests, "storage": old_requests.get("storage")},
        }
    new_fixed["volumeAttributesClassName"] = old_fixed.get("volumeAttributesClassName")
    errs: Errors = []
    if not semantically_equal(new_fixed, old_fixed):
        changes = "\n".join(describe_changes(old_fixed, new_fixed))
        errs.append(
            forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and "
                f"volumeAttributesClassName for bound claims\n{changes}",
            )
        )
    sizes = [
        quantity_or_zero(value)
        for value in (
            requests.get("storage"),
            old_requests.get("storage"),
            as_map(as_map(old.get("status")).get("capacity")).get("storage"),
        )
    ]
    if sizes[0] < sizes[1] and sizes[0] <= sizes[2]:
        errs.append(
            forbidden("spec.resources.requests.storage", "field can not be less than status.capacity")
        )
    if spec.get("volumeMode") != old_spec.get("volumeMode"):
        errs.append(invalid("volumeMode", GoEnum(as_text(spec.get("volumeMode"))), IMMUTABLE))
    return errs
