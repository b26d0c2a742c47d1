"""Pod specs, pod templates and pods (pkg/apis/core/validation ValidatePodSpec and friends)."""

from __future__ import annotations

from typing import Any, Final

from .containers import validate_containers, validate_init_containers
from .errors import (
    Errors,
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
from .fields import JsonObject, as_int, as_list, as_map, as_text, quantity_field, str_map
from .formats import is_dns1123_label, is_qualified_name, is_valid_label_value, name_is_dns_subdomain
from .labels import validate_annotations, validate_labels

_RESTART_POLICIES: Final = ("Always", "OnFailure", "Never")
_DNS_POLICIES: Final = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
TAINT_EFFECTS: Final = ("NoSchedule", "PreferNoSchedule", "NoExecute")
INT32_MAX: Final = 2**31 - 1
_FILE_MODE_ERROR: Final = "must be a number between 0 and 0777 (octal), both inclusive"
# The volume source fields, in the order ValidateVolumes visits them.
_VOLUME_SOURCES: Final = (
    "emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret", "nfs",
    "iscsi", "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "cinder", "cephfs", "quobyte",
    "downwardAPI", "fc", "flexVolume", "configMap", "azureFile", "vsphereVolume", "photonPersistentDisk",
    "portworxVolume", "azureDisk", "storageos", "projected", "scaleIO", "csi", "ephemeral", "image",
)  # fmt: skip
# Where the "more than 1 volume type" error names a source differently (Go's spelling, kept).
_VOLUME_SOURCE_ERROR_NAMES: Final = {"cephfs": "cephFS", "downwardAPI": "downwarAPI"}
# The field each common volume source cannot do without.
_VOLUME_SOURCE_REQUIRED: Final = {
    "hostPath": "path",
    "secret": "secretName",
    "configMap": "name",
    "persistentVolumeClaim": "claimName",
    "nfs": "server",
    "csi": "driver",
    "image": "reference",
}


def _validate_volumes(volumes: list[Any], path: str) -> tuple[set[str], Errors]:
    """ValidateVolumes: the names of the volumes that validated, and the errors."""
    names: set[str] = set()
    errs: Errors = []
    for i, volume in enumerate(map(as_map, volumes)):
        vol_path = subscript(path, i)
        name = as_text(volume.get("name"))
        volume_errs = _validate_volume_source(volume, vol_path)
        if not name:
            volume_errs.append(required(child(vol_path, "name")))
        else:
            volume_errs += each_invalid(child(vol_path, "name"), name, is_dns1123_label(name))
        if name in names:
            volume_errs.append(duplicate(child(vol_path, "name"), name))
        if volume_errs:
            errs += volume_errs
        else:
            names.add(name)
    return names, errs


def _validate_volume_source(volume: JsonObject, path: str) -> Errors:
    errs: Errors = []
    count = 0
    for source in _VOLUME_SOURCES:
        if volume.get(source) is None:
            continue
        if count:
            error_name = _VOLUME_SOURCE_ERROR_NAMES.get(source, source)
            errs.append(forbidden(child(path, error_name), "may not specify more than 1 volume type"))
            continue
        count += 1
        errs += _validate_volume_source_fields(source, as_map(volume[source]), child(path, source))
    if not count:
        errs.append(required(path, "must specify a volume type"))
    return errs


def _validate_volume_source_fields(source: str, body: JsonObject, path: str) -> Errors:
    errs: Errors = []
    needed = _VOLUME_SOURCE_REQUIRED.get(source)
    if needed and not as_text(body.get(needed)):
        errs.append(required(child(path, needed)))
    if source == "emptyDir" and body.get("sizeLimit") is not None:
        size, size_errs = quantity_field(body["sizeLimit"], child(path, "sizeLimit"))
        errs += size_errs
        if size is not None and size < 0:
            errs.append(
                forbidden(child(path, "sizeLimit"), "SizeLimit field must be a valid resource quantity")
            )
    if source in ("secret", "configMap"):
        mode = as_int(body.get("defaultMode"))
        if mode is not None and not 0 <= mode <= 0o777:
            errs.append(invalid(child(path, "defaultMode"), mode, _FILE_MODE_ERROR))
        for i, item in enumerate(map(as_map, as_list(body.get("items")))):
            item_path = subscript(child(path, "items"), i)
            errs += [
                required(child(item_path, name)) for name in ("key", "path") if not as_text(item.get(name))
            ]
            item_mode = as_int(item.get("mode"))
            if item_mode is not None and not 0 <= item_mode <= 0o777:
                errs.append(invalid(child(item_path, "mode"), item_mode, _FILE_MODE_ERROR))
    return errs


def validate_tolerations(tolerations: list[Any], path: str) -> Errors:
    errs: Errors = []
    for i, toleration in enumerate(map(as_map, tolerations)):
        item_path = subscript(path, i)
        key, operator = as_text(toleration.get("key")), as_text(toleration.get("operator"))
        value, effect = as_text(toleration.get("value")), as_text(toleration.get("effect"))
        if key:
            errs += each_invalid(child(item_path, "key"), key, is_qualified_name(key))
        if not key and operator != "Exists":
            detail = (
                'operator must be Exists when `key` is empty, which means "match all values and all keys"'
            )
            errs.append(invalid(child(item_path, "operator"), GoEnum(operator), detail))
        if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(
                invalid(
                    child(item_path, "effect"),
                    GoEnum(effect),
                    "effect must be 'NoExecute' when `tolerationSeconds` is set",
                )
            )
        if operator in ("Equal", ""):
            value_errs = is_valid_label_value(value)
            if value_errs:
                errs.append(invalid(child(item_path, "operator"), value, ";".join(value_errs)))
        elif operator == "Exists":
            if value:
                errs.append(
                    invalid(
                        child(item_path, "operator"),
                        _toleration_value(toleration),
                        "value must be empty when `operator` is 'Exists'",
                    )
                )
        else:
            errs.append(not_supported(child(item_path, "operator"), operator, ["Equal", "Exists"]))
        if effect and effect not in TAINT_EFFECTS:
            errs.append(not_supported(child(item_path, "effect"), effect, TAINT_EFFECTS))
    return errs


def _toleration_value(toleration: JsonObject) -> GoStruct:
    # core.Toleration has no JSON tags: Go field names, pointer fields null when unset.
    return GoStruct(
        Key=as_text(toleration.get("key")),
        Operator=as_text(toleration.get("operator")),
        Value=as_text(toleration.get("value")),
        Effect=as_text(toleration.get("effect")),
        TolerationSeconds=toleration.get("tolerationSeconds"),
    )


def _validate_pod_spec(spec: JsonObject, path: str) -> Errors:
    """ValidatePodSpec, for the fields this simulator models."""
    volumes, errs = _validate_volumes(as_list(spec.get("volumes")), child(path, "volumes"))
    containers = [as_map(c) for c in as_list(spec.get("containers"))]
    init_containers = [as_map(c) for c in as_list(spec.get("initContainers"))]
    errs += validate_containers(containers, volumes, child(path, "containers"))
    errs += validate_init_containers(init_containers, containers, volumes, child(path, "initContainers"))
    restart_policy = as_text(spec.get("restartPolicy")) or "Always"
    if restart_policy not in _RESTART_POLICIES:
        errs.append(not_supported(child(path, "restartPolicy"), restart_policy, _RESTART_POLICIES))
    dns_policy = as_text(spec.get("dnsPolicy")) or "ClusterFirst"
    if dns_policy not in _DNS_POLICIES:
        errs.append(not_supported(child(path, "dnsPolicy"), dns_policy, _DNS_POLICIES))
    errs += validate_labels(str_map(spec.get("nodeSelector")), child(path, "nodeSelector"))
    for field_name in ("serviceAccountName", "nodeName", "priorityClassName"):
        value = as_text(spec.get(field_name))
        if value:
            errs += each_invalid(child(path, field_name), value, name_is_dns_subdomain(value, False))
    deadline = as_int(spec.get("activeDeadlineSeconds"))
    if deadline is not None and not 1 <= deadline <= INT32_MAX:
        errs.append(
            invalid(
                child(path, "activeDeadlineSeconds"),
                deadline,
                f"must be between 1 and {INT32_MAX}, inclusive",
            )
        )
    for field_name in ("hostname", "subdomain"):
        value = as_text(spec.get(field_name))
        if value:
            errs += each_invalid(child(path, field_name), value, is_dns1123_label(value))
    errs += validate_tolerations(as_list(spec.get("tolerations")), child(path, "tolerations"))
    return errs


def template_restart_policy(template: JsonObject) -> str:
    return as_text(as_map(template.get("spec")).get("restartPolicy")) or "Always"


def validate_pod_template(template: JsonObject, path: str) -> Errors:
    """ValidatePodTemplateSpec."""
    meta, spec = as_map(template.get("metadata")), as_map(template.get("spec"))
    errs = validate_labels(str_map(meta.get("labels")), child(path, "labels"))
    errs += validate_annotations(str_map(meta.get("annotations")), child(path, "annotations"))
    errs += _validate_pod_spec(spec, child(path, "spec"))
    if spec.get("ephemeralContainers"):
        errs.append(
            forbidden(
                child(path, "spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"
            )
        )
    return errs


def _validate_image_whitespace(spec: JsonObject) -> Errors:
    """validateContainersOnlyForPod: pods (not templates) reject padded image names."""
    return [
        invalid(
            child(subscript(child("spec", group), i), "image"),
            image,
            "must not have leading or trailing whitespace",
        )
        for group in ("containers", "initContainers")
        for i, image in enumerate(as_text(as_map(c).get("image")) for c in as_list(spec.get(group)))
        if image != image.strip()
    ]


def validate_pod_update_spec(obj: JsonObject) -> Errors:
    """validatePodMetadataAndSpec's spec part: what every pod create and update must satisfy."""
    spec = as_map(obj.get("spec"))
    return _validate_pod_spec(spec, "spec") + _validate_image_whitespace(spec)


def validate_pod(obj: JsonObject) -> Errors:
    """ValidatePodCreate's spec part."""
    errs = validate_pod_update_spec(obj)
    if as_map(obj.get("spec")).get("ephemeralContainers"):
        errs.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
    return errs
