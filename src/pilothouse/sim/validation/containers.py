"""Containers of a pod spec: ports, environment, mounts and resources (pkg/apis/core/validation)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

from .errors import (
    Errors,
    GoEnum,
    child,
    duplicate,
    each_invalid,
    forbidden,
    invalid,
    not_found,
    not_supported,
    required,
    subscript,
)
from .fields import JsonObject, as_int, as_list, as_map, as_text, quantity_field
from .formats import (
    is_config_map_key,
    is_dns1123_label,
    is_qualified_name,
    is_relaxed_env_var_name,
    is_valid_port_name,
    is_valid_port_num,
    name_is_dns_subdomain,
)
from .quantity import canonical_quantity

PROTOCOLS: Final = ("SCTP", "TCP", "UDP")
_PULL_POLICIES: Final = ("Always", "IfNotPresent", "Never")
_TERMINATION_MESSAGE_POLICIES: Final = ("File", "FallbackToLogsOnError")
_ENV_FIELD_PATHS: Final = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)
_DOWNWARD_API_LABELS: Final = frozenset(
    {
        "metadata.annotations",
        "metadata.labels",
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.serviceAccountName",
        "spec.schedulerName",
        "status.phase",
        "status.hostIP",
        "status.hostIPs",
        "status.podIP",
        "status.podIPs",
        "spec.host",
    }
)
_RESOURCE_FIELD_REFS: Final = (
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
)
_STANDARD_CONTAINER_RESOURCES: Final = frozenset({"cpu", "memory", "ephemeral-storage"})
# helper.IsStandardResourceName: container resources plus the quota ones.
_STANDARD_RESOURCES: Final = _STANDARD_CONTAINER_RESOURCES | {
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
    "storage",
}


def _validate_ports(ports: list[Any], path: str) -> Errors:
    errs: Errors = []
    names: set[str] = set()
    for i, port in enumerate(map(as_map, ports)):
        port_path = subscript(path, i)
        name = as_text(port.get("name"))
        if name:
            name_errs = is_valid_port_name(name)
            if name_errs:
                errs += each_invalid(child(port_path, "name"), name, name_errs)
            elif name in names:
                errs.append(duplicate(child(port_path, "name"), name))
            else:
                names.add(name)
        container_port = as_int(port.get("containerPort")) or 0
        if not container_port:
            errs.append(required(child(port_path, "containerPort")))
        else:
            errs += each_invalid(
                child(port_path, "containerPort"), container_port, is_valid_port_num(container_port)
            )
        host_port = as_int(port.get("hostPort")) or 0
        if host_port:
            errs += each_invalid(child(port_path, "hostPort"), host_port, is_valid_port_num(host_port))
        protocol = as_text(port.get("protocol")) or "TCP"
        if protocol not in PROTOCOLS:
            errs.append(not_supported(child(port_path, "protocol"), protocol, PROTOCOLS))
    return errs


def _host_port_conflicts(containers: Sequence[JsonObject], path: str) -> Errors:
    errs: Errors = []
    seen: set[str] = set()
    for i, container in enumerate(containers):
        for j, port in enumerate(map(as_map, as_list(container.get("ports")))):
            host_port = as_int(port.get("hostPort")) or 0
            if not host_port:
                continue
            taken = f"{as_text(port.get('protocol')) or 'TCP'}/{as_text(port.get('hostIP'))}/{host_port}"
            if taken in seen:
                errs.append(
                    duplicate(child(subscript(child(subscript(path, i), "ports"), j), "hostPort"), taken)
                )
            seen.add(taken)
    return errs


def _split_subscript(field_path: str) -> tuple[str, str] | None:
    """fieldpath.SplitMaybeSubscriptedPath: "metadata.labels['app']" -> ("metadata.labels", "app")."""
    if not field_path.endswith("']"):
        return None
    head, sep, inner = field_path[:-2].partition("['")
    return (head, inner) if sep and head else None


def _validate_object_field_selector(selector: JsonObject, allowed: Sequence[str], path: str) -> Errors:
    api_version, field_path = as_text(selector.get("apiVersion")) or "v1", as_text(selector.get("fieldPath"))
    if not field_path:
        return [required(child(path, "fieldPath"))]
    if api_version != "v1":
        problem = f"unsupported pod version: {api_version}"
    elif (split := _split_subscript(field_path)) is not None:
        head, inner = split
        if head not in ("metadata.annotations", "metadata.labels"):
            problem = f"field label does not support subscript: {field_path}"
        else:
            key = inner.lower() if head == "metadata.annotations" else inner
            return each_invalid(path, key, is_qualified_name(key))
    elif field_path not in _DOWNWARD_API_LABELS:
        problem = f"field label not supported: {field_path}"
    else:
        internal = "spec.nodeName" if field_path == "spec.host" else field_path
        if internal not in allowed:
            return [not_supported(child(path, "fieldPath"), internal, sorted(allowed))]
        return []
    return [invalid(child(path, "fieldPath"), field_path, f"error converting fieldPath: {problem}")]


def _validate_key_selector(selector: JsonObject, path: str) -> Errors:
    name, key = as_text(selector.get("name")), as_text(selector.get("key"))
    errs = each_invalid(child(path, "name"), name, name_is_dns_subdomain(name, False))
    if not key:
        errs.append(required(child(path, "key")))
    else:
        errs += each_invalid(child(path, "key"), key, is_config_map_key(key))
    return errs


def _validate_env(env: list[Any], path: str) -> Errors:
    errs: Errors = []
    for i, var in enumerate(map(as_map, env)):
        var_path = subscript(path, i)
        name = as_text(var.get("name"))
        if not name:
            errs.append(required(child(var_path, "name")))
        else:
            errs += each_invalid(child(var_path, "name"), name, is_relaxed_env_var_name(name))
        if var.get("valueFrom") is not None:
            errs += _validate_env_value_from(var, child(var_path, "valueFrom"))
    return errs


def _validate_env_value_from(var: JsonObject, path: str) -> Errors:
    source = as_map(var.get("valueFrom"))
    errs: Errors = []
    sources = 0
    if source.get("fieldRef") is not None:
        sources += 1
        errs += _validate_object_field_selector(
            as_map(source["fieldRef"]), _ENV_FIELD_PATHS, child(path, "fieldRef")
        )
    if source.get("resourceFieldRef") is not None:
        sources += 1
        resource = as_text(as_map(source["resourceFieldRef"]).get("resource"))
        resource_path = child(path, "resourceFieldRef", "resource")
        if not resource:
            errs.append(required(resource_path))
        elif resource not in _RESOURCE_FIELD_REFS and not resource.startswith(
            ("requests.hugepages-", "limits.hugepages-")
        ):
            errs.append(not_supported(resource_path, resource, _RESOURCE_FIELD_REFS))
    for ref in ("configMapKeyRef", "secretKeyRef"):
        if source.get(ref) is not None:
            sources += 1
            errs += _validate_key_selector(as_map(source[ref]), child(path, ref))
    if not sources:
        errs.append(
            invalid(
                path,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            )
        )
    elif as_text(var.get("value")):
        errs.append(invalid(path, "", "may not be specified when `value` is not empty"))
    elif sources > 1:
        errs.append(invalid(path, "", "may not have more than one field specified at a time"))
    return errs


def _validate_env_from(env_from: list[Any], path: str) -> Errors:
    errs: Errors = []
    for i, source in enumerate(map(as_map, env_from)):
        source_path = subscript(path, i)
        prefix = as_text(source.get("prefix"))
        if prefix:
            errs += each_invalid(child(source_path, "prefix"), prefix, is_relaxed_env_var_name(prefix))
        refs = [ref for ref in ("configMapRef", "secretRef") if source.get(ref) is not None]
        for ref in refs:
            name = as_text(as_map(source[ref]).get("name"))
            if not name:
                errs.append(required(child(source_path, ref, "name")))
            else:
                errs += each_invalid(child(source_path, ref, "name"), name, name_is_dns_subdomain(name, True))
        if not refs:
            errs.append(invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif len(refs) > 1:
            errs.append(invalid(path, "", "may not have more than one field specified at a time"))
    return errs


def _validate_volume_mounts(mounts: list[Any], volumes: set[str], path: str) -> Errors:
    errs: Errors = []
    mount_points: set[str] = set()
    for i, mount in enumerate(map(as_map, mounts)):
        mount_path_field = child(subscript(path, i), "mountPath")
        name, mount_path = as_text(mount.get("name")), as_text(mount.get("mountPath"))
        if not name:
            errs.append(required(child(subscript(path, i), "name")))
        if name not in volumes:
            errs.append(not_found(child(subscript(path, i), "name"), name))
        if not mount_path:
            errs.append(required(mount_path_field))
        if mount_path in mount_points:
            errs.append(invalid(mount_path_field, mount_path, "must be unique"))
        mount_points.add(mount_path)
        if as_text(mount.get("subPathExpr")) and as_text(mount.get("subPath")):
            errs.append(
                invalid(
                    child(subscript(path, i), "subPathExpr"),
                    as_text(mount.get("subPathExpr")),
                    "subPathExpr and subPath are mutually exclusive",
                )
            )
    return errs


def _is_native_resource(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _is_hugepages(name: str) -> bool:
    return name.startswith("hugepages-")


def _is_extended_resource(name: str) -> bool:
    return (
        not _is_native_resource(name)
        and not name.startswith("requests.")
        and not is_qualified_name("requests." + name)
    )


def _overcommit_allowed(name: str) -> bool:
    return _is_native_resource(name) and not _is_hugepages(name)


def _validate_container_resource_name(name: str, path: str) -> Errors:
    errs = each_invalid(path, GoEnum(name), is_qualified_name(name))
    if errs:
        return errs
    if "/" not in name:
        if name not in _STANDARD_RESOURCES and not _is_hugepages(name):
            errs.append(invalid(path, GoEnum(name), "must be a standard resource type or fully qualified"))
        if name not in _STANDARD_CONTAINER_RESOURCES and not _is_hugepages(name):
            errs.append(invalid(path, GoEnum(name), "must be a standard resource for containers"))
    elif not _is_native_resource(name) and not _is_extended_resource(name):
        errs.append(invalid(path, GoEnum(name), "doesn't follow extended resource name standard"))
    return errs


def _validate_resource_list(resources: JsonObject, path: str) -> tuple[dict[str, Decimal], Errors]:
    errs: Errors = []
    parsed: dict[str, Decimal] = {}
    for name, raw in resources.items():
        entry_path = subscript(path, name)
        errs += _validate_container_resource_name(name, entry_path)
        amount, quantity_errs = quantity_field(raw, entry_path)
        errs += quantity_errs
        if amount is None:
            continue
        parsed[name] = amount
        shown = GoEnum(canonical_quantity(raw))  # a Quantity marshals to its JSON string
        if amount < 0:
            errs.append(invalid(entry_path, shown, "must be greater than or equal to 0"))
        if _is_extended_resource(name) and amount != amount.to_integral_value():
            errs.append(invalid(entry_path, shown, "must be an integer"))
    return parsed, errs


def _validate_resource_requirements(resources: JsonObject, path: str) -> Errors:
    limits_path, requests_path = child(path, "limits"), child(path, "requests")
    raw_limits, raw_requests = as_map(resources.get("limits")), as_map(resources.get("requests"))
    limits, errs = _validate_resource_list(raw_limits, limits_path)
    requests, request_errs = _validate_resource_list(raw_requests, requests_path)
    errs += request_errs
    for name, request in requests.items():
        shown = canonical_quantity(raw_requests[name])
        if name in limits:
            limit = canonical_quantity(raw_limits[name])
            if request != limits[name] and not _overcommit_allowed(name):
                errs.append(invalid(requests_path, shown, f"must be equal to {name} limit of {limit}"))
            elif request > limits[name]:
                errs.append(
                    invalid(requests_path, shown, f"must be less than or equal to {name} limit of {limit}")
                )
        elif name not in raw_limits and not _overcommit_allowed(name):
            errs.append(required(limits_path, "Limit must be set for non overcommitable resources"))
    return errs


def _validate_container_common(container: JsonObject, volumes: set[str], path: str) -> Errors:
    errs: Errors = []
    name = as_text(container.get("name"))
    if not name:
        errs.append(required(child(path, "name")))
    else:
        errs += each_invalid(child(path, "name"), name, is_dns1123_label(name))
    if not as_text(container.get("image")):
        errs.append(required(child(path, "image")))
    message_policy = as_text(container.get("terminationMessagePolicy")) or "File"
    if message_policy not in _TERMINATION_MESSAGE_POLICIES:
        errs.append(
            not_supported(
                child(path, "terminationMessagePolicy"), message_policy, _TERMINATION_MESSAGE_POLICIES
            )
        )
    errs += _validate_ports(as_list(container.get("ports")), child(path, "ports"))
    errs += _validate_env(as_list(container.get("env")), child(path, "env"))
    errs += _validate_env_from(as_list(container.get("envFrom")), child(path, "envFrom"))
    errs += _validate_volume_mounts(
        as_list(container.get("volumeMounts")), volumes, child(path, "volumeMounts")
    )
    pull_policy = as_text(container.get("imagePullPolicy"))
    if pull_policy and pull_policy not in _PULL_POLICIES:
        errs.append(not_supported(child(path, "imagePullPolicy"), pull_policy, _PULL_POLICIES))
    errs += _validate_resource_requirements(as_map(container.get("resources")), child(path, "resources"))
    return errs


def validate_containers(containers: list[JsonObject], volumes: set[str], path: str) -> Errors:
    if not containers:
        return [required(path)]
    errs: Errors = []
    names: set[str] = set()
    for i, container in enumerate(containers):
        container_path = subscript(path, i)
        errs += _validate_container_common(container, volumes, container_path)
        name = as_text(container.get("name"))
        if name in names:
            errs.append(duplicate(child(container_path, "name"), name))
        names.add(name)
        if container.get("restartPolicy") is not None:
            errs.append(
                forbidden(child(container_path, "restartPolicy"), "may not be set for non-init containers")
            )
    return errs + _host_port_conflicts(containers, path)


def validate_init_containers(
    init: list[JsonObject], regular: list[JsonObject], volumes: set[str], path: str
) -> Errors:
    errs: Errors = []
    names = {as_text(container.get("name")) for container in regular}
    for i, container in enumerate(init):
        container_path = subscript(path, i)
        errs += _validate_container_common(container, volumes, container_path)
        restart_policy = container.get("restartPolicy")
        if restart_policy is not None and restart_policy != "Always":
            errs.append(
                not_supported(child(container_path, "restartPolicy"), as_text(restart_policy), ["Always"])
            )
        name = as_text(container.get("name"))
        if name in names:
            errs.append(duplicate(child(container_path, "name"), name))
        elif name:
            names.add(name)
        errs += _host_port_conflicts([container], path)
        if restart_policy != "Always":
            errs += [
                forbidden(
                    child(container_path, hook),
                    "may not be set for init containers without restartPolicy=Always",
                )
                for hook in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe")
                if container.get(hook) is not None
            ]
    return errs
