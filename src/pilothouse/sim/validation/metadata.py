"""ObjectMeta on create and update (apimachinery api/validation/objectmeta.go and core's wrapper)."""

from __future__ import annotations

from typing import Any, Final

from .errors import Errors, GoStruct, child, each_invalid, invalid, required, subscript
from .fields import JsonObject, as_list, as_map, as_text, non_negative, str_map
from .formats import NameCheck, is_qualified_name, name_is_dns_label
from .labels import validate_annotations, validate_labels

_STANDARD_FINALIZERS: Final = frozenset({"kubernetes", "orphan", "foregroundDeletion"})
IMMUTABLE: Final = "field is immutable"


def _owner_reference_value(ref: JsonObject) -> GoStruct:
    fields = ("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion")
    value = GoStruct({name: ref.get(name, "") for name in fields[:4]})
    value.update({name: ref[name] for name in fields[4:] if ref.get(name) is not None})
    return value


def _validate_owner_references(refs: list[Any], path: str) -> Errors:
    errs: Errors = []
    first_controller = ""
    for ref in map(as_map, refs):
        api_version = as_text(ref.get("apiVersion"))
        if not api_version.rpartition("/")[2]:
            errs.append(invalid(child(path, "apiVersion"), api_version, "version must not be empty"))
        for name in ("kind", "name", "uid"):
            if not as_text(ref.get(name)):
                errs.append(invalid(child(path, name), as_text(ref.get(name)), "must not be empty"))
        if api_version == "v1" and ref.get("kind") == "Event":
            errs.append(
                invalid(
                    path, _owner_reference_value(ref), "/v1, Kind=Event is disallowed from being an owner"
                )
            )
        if ref.get("controller") is True:
            current = f"{as_text(ref.get('kind'))}/{as_text(ref.get('name'))}"
            if first_controller:
                errs.append(
                    invalid(
                        path,
                        [_owner_reference_value(as_map(r)) for r in refs],
                        'Only one reference can have Controller set to true. Found "true" in '
                        f"references for {first_controller} and {current}",
                    )
                )
            else:
                first_controller = current
    return errs


def kube_finalizer_errors(name: str, path: str) -> Errors:
    """validateKubeFinalizerName: core kinds insist on a domain for non-standard finalizers."""
    if "/" in name or name in _STANDARD_FINALIZERS:
        return []
    return [invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified")]


def _validate_finalizers(finalizers: list[Any], path: str, kube_names: bool) -> Errors:
    names = [as_text(item) for item in finalizers]
    errs = [invalid(path, name, msg) for name in names for msg in is_qualified_name(name)]
    if "orphan" in names and "foregroundDeletion" in names:
        errs.append(invalid(path, names, "finalizer orphan and foregroundDeletion cannot be both set"))
    if kube_names:  # core's ObjectMeta wrapper checks each one at its index
        errs += [
            cause for i, name in enumerate(names) for cause in kube_finalizer_errors(name, subscript(path, i))
        ]
    return errs


def _validate_meta_common(meta: JsonObject, namespaced: bool, kube_finalizers: bool) -> Errors:
    errs: Errors = []
    if namespaced:
        namespace = as_text(meta.get("namespace"))
        if not namespace:
            errs.append(required("metadata.namespace"))
        else:
            errs += each_invalid("metadata.namespace", namespace, name_is_dns_label(namespace, False))
    # A cluster-scoped object's namespace is cleared by the registry before validation.
    errs += non_negative("metadata.generation", meta.get("generation"))
    errs += validate_labels(str_map(meta.get("labels")), "metadata.labels")
    errs += validate_annotations(str_map(meta.get("annotations")), "metadata.annotations")
    errs += _validate_owner_references(as_list(meta.get("ownerReferences")), "metadata.ownerReferences")
    errs += _validate_finalizers(as_list(meta.get("finalizers")), "metadata.finalizers", kube_finalizers)
    return errs


def validate_object_meta(
    obj: JsonObject, namespaced: bool, name_check: NameCheck, kube_finalizers: bool
) -> Errors:
    meta = as_map(obj.get("metadata"))
    name, generate_name = as_text(meta.get("name")), as_text(meta.get("generateName"))
    errs: Errors = []
    if generate_name:
        errs += each_invalid("metadata.generateName", generate_name, name_check(generate_name, True))
    if name:
        errs += each_invalid("metadata.name", name, name_check(name, False))
    elif not generate_name:
        # With generateName the registry fills in the name; the caller may do so before or after us.
        errs.append(required("metadata.name", "name or generateName is required"))
    return errs + _validate_meta_common(meta, namespaced, kube_finalizers)


def validate_object_meta_update(new: JsonObject, old: JsonObject, kube_finalizers: bool) -> Errors:
    meta, old_meta = as_map(new.get("metadata")), as_map(old.get("metadata"))
    errs: Errors = []
    # The registry restores generation, creationTimestamp and an empty uid from the stored object
    # before validating, so only a name, namespace or a different uid can reach these checks.
    for name in ("name", "namespace", "uid"):
        value, old_value = as_text(meta.get(name)), as_text(old_meta.get(name))
        if name == "uid" and not value:
            continue
        if value != old_value:
            errs.append(invalid(child("metadata", name), value, IMMUTABLE))
    errs += validate_labels(str_map(meta.get("labels")), "metadata.labels")
    errs += validate_annotations(str_map(meta.get("annotations")), "metadata.annotations")
    errs += _validate_owner_references(as_list(meta.get("ownerReferences")), "metadata.ownerReferences")
    errs += _validate_finalizers(as_list(meta.get("finalizers")), "metadata.finalizers", kube_finalizers)
    return errs
