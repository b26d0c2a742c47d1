"""Services (pkg/apis/core/validation ValidateService)."""

from __future__ import annotations

from typing import Final

from .containers import PROTOCOLS
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
from .fields import JsonObject, as_int, as_list, as_map, as_text, spec_of, str_map
from .formats import (
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_port_name,
    is_valid_port_num,
)
from .labels import validate_labels

_SERVICE_TYPES: Final = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_KUBELET_PORT: Final = 10250
_MAX_CLIENT_IP_AFFINITY_SECONDS: Final = 86400


def _cluster_ips(spec: JsonObject) -> list[str]:
    # The Service strategy copies clusterIP into clusterIPs before validation.
    ips = [as_text(ip) for ip in as_list(spec.get("clusterIPs"))]
    return ips or ([as_text(spec["clusterIP"])] if as_text(spec.get("clusterIP")) else [])


def _service_port_value(protocol: str, port: object) -> GoStruct:
    # core.ServicePort has no JSON tags; the duplicate check keys on protocol and port only.
    return GoStruct(Name="", Protocol=protocol, AppProtocol=None, Port=port, TargetPort=0, NodePort=0)


def _validate_service_port(port: JsonObject, require_name: bool, names: set[str], path: str) -> Errors:
    errs: Errors = []
    name = as_text(port.get("name"))
    if require_name and not name:
        errs.append(required(child(path, "name")))
    elif name:
        errs += each_invalid(child(path, "name"), name, is_dns1123_label(name))
        if name in names:
            errs.append(duplicate(child(path, "name"), name))
        names.add(name)
    number = as_int(port.get("port")) or 0
    errs += each_invalid(child(path, "port"), number, is_valid_port_num(number))
    protocol = as_text(port.get("protocol")) or "TCP"
    if protocol not in PROTOCOLS:
        errs.append(not_supported(child(path, "protocol"), protocol, PROTOCOLS))
    target = port.get("targetPort")
    if target in (None, 0, ""):  # defaulting copies the port
        target = number
    if isinstance(target, str):
        errs += each_invalid(child(path, "targetPort"), target, is_valid_port_name(target))
    else:
        target_number = as_int(target) or 0
        errs += each_invalid(child(path, "targetPort"), target_number, is_valid_port_num(target_number))
    app_protocol = port.get("appProtocol")
    if app_protocol is not None:
        errs += each_invalid(
            child(path, "appProtocol"), as_text(app_protocol), is_qualified_name(as_text(app_protocol))
        )
    return errs


def validate_service(obj: JsonObject, old: JsonObject | None) -> Errors:
    spec = as_map(obj.get("spec"))
    service_type = as_text(spec.get("type")) or "ClusterIP"
    ips = _cluster_ips(spec)
    headless = ips == ["None"]
    ports = [as_map(port) for port in as_list(spec.get("ports"))]
    errs: Errors = []
    if not ports and not headless and service_type != "ExternalName":
        errs.append(required("spec.ports"))
    if service_type == "LoadBalancer":
        errs += [
            invalid(
                subscript("spec.ports", i),
                _KUBELET_PORT,
                "may not expose port 10250 externally since it is used by kubelet",
            )
            for i, port in enumerate(ports)
            if as_int(port.get("port")) == _KUBELET_PORT
        ]
    if service_type in ("LoadBalancer", "NodePort") and headless:
        errs.append(
            invalid("spec.clusterIPs[0]", "None", f"may not be set to 'None' for {service_type} services")
        )
    if service_type == "ExternalName":
        for name in ("clusterIPs", "ipFamilies"):
            if as_list(spec.get(name)) or (name == "clusterIPs" and ips):
                errs.append(forbidden(child("spec", name), "may not be set for ExternalName services"))
        if spec.get("ipFamilyPolicy") is not None:
            errs.append(forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"))
        cname = as_text(spec.get("externalName")).removesuffix(".")
        if cname:
            errs += each_invalid("spec.externalName", cname, is_dns1123_subdomain(cname))
        else:
            errs.append(required("spec.externalName"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        errs += _validate_service_port(port, len(ports) > 1, names, subscript("spec.ports", i))
    if spec.get("selector") is not None:
        errs += validate_labels(str_map(spec.get("selector")), "spec.selector")
    affinity = as_text(spec.get("sessionAffinity")) or "None"
    if affinity not in ("ClientIP", "None"):
        errs.append(not_supported("spec.sessionAffinity", affinity, ["ClientIP", "None"]))
    affinity_config = spec.get("sessionAffinityConfig")
    if affinity == "ClientIP":
        timeout = as_int(as_map(as_map(affinity_config).get("clientIP")).get("timeoutSeconds"))
        if timeout is not None and not 0 < timeout <= _MAX_CLIENT_IP_AFFINITY_SECONDS:
            errs.append(
                invalid(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    timeout,
                    f"must be greater than 0 and less than {_MAX_CLIENT_IP_AFFINITY_SECONDS}",
                )
            )
    elif affinity == "None" and affinity_config is not None:
        errs.append(forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None"))
    if service_type not in _SERVICE_TYPES:
        errs.append(not_supported("spec.type", service_type, _SERVICE_TYPES))
    if service_type == "ClusterIP":
        errs += [
            forbidden(
                child(subscript("spec.ports", i), "nodePort"), "may not be used when `type` is 'ClusterIP'"
            )
            for i, port in enumerate(ports)
            if as_int(port.get("nodePort"))
        ]
    errs += _duplicate_service_ports(ports)
    if spec.get("loadBalancerSourceRanges") and service_type != "LoadBalancer":
        errs.append(
            forbidden("spec.LoadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'")
        )
    if spec.get("allocateLoadBalancerNodePorts") is not None and service_type != "LoadBalancer":
        errs.append(
            forbidden("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'")
        )
    return errs + _validate_traffic_policies(spec, service_type)


def _duplicate_service_ports(ports: list[JsonObject]) -> Errors:
    errs: Errors = []
    node_ports: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        node_port = as_int(port.get("nodePort")) or 0
        key = (as_text(port.get("protocol")) or "TCP", node_port)
        if node_port and key in node_ports:
            errs.append(duplicate(child(subscript("spec.ports", i), "nodePort"), node_port))
        node_ports.add(key)
    seen: set[tuple[str, object]] = set()
    for i, port in enumerate(ports):
        key = (as_text(port.get("protocol")) or "TCP", as_int(port.get("port")) or 0)
        if key in seen:
            errs.append(duplicate(subscript("spec.ports", i), _service_port_value(*key)))
        seen.add(key)
    return errs


def _validate_traffic_policies(spec: JsonObject, service_type: str) -> Errors:
    errs: Errors = []
    external = spec.get("externalTrafficPolicy")
    externally_accessible = service_type in ("LoadBalancer", "NodePort") or (
        service_type == "ClusterIP" and bool(as_list(spec.get("externalIPs")))
    )
    if not externally_accessible and external:
        errs.append(
            invalid(
                "spec.externalTrafficPolicy",
                GoEnum(as_text(external)),
                "may only be set for externally-accessible services",
            )
        )
    elif externally_accessible and external and external not in ("Cluster", "Local"):
        errs.append(not_supported("spec.externalTrafficPolicy", as_text(external), ["Cluster", "Local"]))
    internal = spec.get("internalTrafficPolicy")
    if internal is not None and internal not in ("Cluster", "Local"):
        errs.append(not_supported("spec.internalTrafficPolicy", as_text(internal), ["Cluster", "Local"]))
    return errs


def service_transition(new: JsonObject, old: JsonObject) -> Errors:
    spec, old_spec = spec_of(new), spec_of(old)
    if "ExternalName" in (as_text(spec.get("type")), as_text(old_spec.get("type"))):
        return []
    ips, old_ips = _cluster_ips(spec), _cluster_ips(old_spec)
    # An update that leaves clusterIP out keeps the allocated one (the registry copies it over).
    if not ips or ips == old_ips or (ips == ["None"] and old_ips == ["None"]):
        return []
    compared = len(old_ips) if len(ips) == len(old_ips) else min(1, len(old_ips))
    return [
        invalid(subscript("spec.clusterIPs", i), ips, "may not change once set")
        for i in range(compared)
        if ips[i] != old_ips[i]
    ]
