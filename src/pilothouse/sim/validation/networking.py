"""Ingresses and NetworkPolicies (pkg/apis/networking/validation)."""

from __future__ import annotations

import ipaddress
from typing import Final

from .errors import Errors, child, each_invalid, forbidden, invalid, not_supported, required, subscript
from .fields import JsonObject, as_int, as_list, as_map, as_text, str_map
from .formats import (
    is_dns1035_label,
    is_dns1123_subdomain,
    is_valid_path_segment_name,
    is_valid_port_name,
    is_valid_port_num,
    is_wildcard_dns1123_subdomain,
)
from .labels import validate_label_selector

_PATH_TYPES: Final = ("Exact", "ImplementationSpecific", "Prefix")
_INVALID_PATH_SEQUENCES: Final = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_PATH_SUFFIXES: Final = ("/..", "/.")


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _validate_ingress_backend(backend: JsonObject, path: str) -> Errors:
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if resource is not None:
        errs: Errors = []
        for name in ("kind", "name"):
            value = as_text(as_map(resource).get(name))
            if not value:
                errs.append(required(child(path, "resource", name), f"{name} is required"))
            else:
                errs += each_invalid(child(path, "resource", name), value, is_valid_path_segment_name(value))
        return errs
    if service is None:
        return [invalid(path, "", "resource or service backend is required")]
    service_name = as_text(as_map(service).get("name"))
    if not service_name:
        errs = [required(child(path, "service", "name"))]
    else:
        errs = each_invalid(child(path, "service", "name"), service_name, is_dns1035_label(service_name))
    port = as_map(as_map(service).get("port"))
    port_name, port_number = as_text(port.get("name")), as_int(port.get("number")) or 0
    if port_name and port_number:
        errs.append(invalid(path, "", "cannot set both port name & port number"))
    elif port_name:
        errs += each_invalid(child(path, "service", "port", "name"), port_name, is_valid_port_name(port_name))
    elif port_number:
        errs += each_invalid(
            child(path, "service", "port", "number"), port_number, is_valid_port_num(port_number)
        )
    else:
        errs.append(required(path, "port name or number is required"))
    return errs


def _validate_ingress_path(item: JsonObject, path: str) -> Errors:
    path_type = item.get("pathType")
    if path_type is None:
        return [required(child(path, "pathType"), "pathType must be specified")]
    url_path = as_text(item.get("path"))
    errs: Errors = []
    if path_type in ("Exact", "Prefix"):
        if not url_path.startswith("/"):
            errs.append(invalid(child(path, "path"), url_path, "must be an absolute path"))
        errs += [
            invalid(child(path, "path"), url_path, f"must not contain '{seq}'")
            for seq in _INVALID_PATH_SEQUENCES
            if seq in url_path
        ]
        errs += [
            invalid(child(path, "path"), url_path, f"cannot end with '{suffix}'")
            for suffix in _INVALID_PATH_SUFFIXES
            if url_path.endswith(suffix)
        ]
    elif path_type == "ImplementationSpecific":
        if url_path and not url_path.startswith("/"):
            errs.append(invalid(child(path, "path"), url_path, "must be an absolute path"))
    else:
        errs.append(not_supported(child(path, "pathType"), as_text(path_type), _PATH_TYPES))
    return errs + _validate_ingress_backend(as_map(item.get("backend")), child(path, "backend"))


def _validate_ingress_host(host: str, path: str) -> Errors:
    errs = [invalid(path, host, "must be a DNS name, not an IP address")] if _is_ip_address(host) else []
    checks = is_wildcard_dns1123_subdomain(host) if "*" in host else is_dns1123_subdomain(host)
    return errs + each_invalid(path, host, checks)


def _validate_ingress(obj: JsonObject, old: JsonObject | None) -> Errors:
    spec = as_map(obj.get("spec"))
    rules = [as_map(rule) for rule in as_list(spec.get("rules"))]
    errs: Errors = []
    if not rules and spec.get("defaultBackend") is None:
        shown = spec.get("rules") if isinstance(spec.get("rules"), list) else None
        errs.append(invalid("spec", shown, "either `defaultBackend` or `rules` must be specified"))
    if spec.get("defaultBackend") is not None:
        errs += _validate_ingress_backend(as_map(spec["defaultBackend"]), "spec.defaultBackend")
    for i, rule in enumerate(rules):
        rule_path = subscript("spec.rules", i)
        host = as_text(rule.get("host"))
        if host:
            errs += _validate_ingress_host(host, child(rule_path, "host"))
        http = rule.get("http")
        if http is not None:
            paths = as_list(as_map(http).get("paths"))
            if not paths:
                errs.append(required(child(rule_path, "http", "paths")))
            for j, item in enumerate(map(as_map, paths)):
                errs += _validate_ingress_path(item, subscript(child(rule_path, "http", "paths"), j))
    for i, tls in enumerate(map(as_map, as_list(spec.get("tls")))):
        for host in map(as_text, as_list(tls.get("hosts"))):
            checks = is_wildcard_dns1123_subdomain(host) if "*" in host else is_dns1123_subdomain(host)
            errs += each_invalid(child(subscript("spec.tls", i), "hosts"), host, checks)
        secret_name = as_text(tls.get("secretName"))
        if secret_name:
            errs += each_invalid(
                child(subscript("spec.tls", i), "secretName"), secret_name, is_dns1123_subdomain(secret_name)
            )
    class_name = spec.get("ingressClassName")
    if class_name is not None:
        errs += each_invalid(
            "spec.ingressClassName", as_text(class_name), is_dns1123_subdomain(as_text(class_name))
        )
    return errs


def validate_ingress_create(obj: JsonObject, old: JsonObject | None) -> Errors:
    errs = _validate_ingress(obj, old)
    annotation = str_map(as_map(obj.get("metadata")).get("annotations")).get("kubernetes.io/ingress.class")
    if old is None and annotation is not None and as_map(obj.get("spec")).get("ingressClassName") is not None:
        errs.append(
            invalid(
                "annotations.kubernetes.io/ingress.class",
                annotation,
                "can not be set when the class field is also set",
            )
        )
    return errs


def _validate_network_policy_peer(peer: JsonObject, path: str) -> Errors:
    errs: Errors = []
    kinds = [name for name in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(name) is not None]
    for name in kinds[:2]:
        if name != "ipBlock":
            errs += validate_label_selector(as_map(peer[name]), child(path, name))
    if "ipBlock" in kinds and not as_text(as_map(peer["ipBlock"]).get("cidr")):
        errs.append(required(child(path, "ipBlock", "cidr")))
    if not kinds:
        errs.append(required(path, "must specify a peer"))
    elif len(kinds) > 1 and "ipBlock" in kinds:
        errs.append(forbidden(path, "may not specify both ipBlock and another peer"))
    return errs


def validate_network_policy(obj: JsonObject, old: JsonObject | None) -> Errors:
    spec = as_map(obj.get("spec"))
    errs = validate_label_selector(as_map(spec.get("podSelector")), "spec.podSelector")
    for direction, peers_field in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(map(as_map, as_list(spec.get(direction)))):
            rule_path = subscript(child("spec", direction), i)
            for j, port in enumerate(map(as_map, as_list(rule.get("ports")))):
                port_path = subscript(child(rule_path, "ports"), j)
                protocol = port.get("protocol")
                if protocol is not None and protocol not in ("TCP", "UDP", "SCTP"):
                    errs.append(
                        not_supported(child(port_path, "protocol"), as_text(protocol), ["TCP", "UDP", "SCTP"])
                    )
                number = port.get("port")
                if isinstance(number, str):
                    errs += each_invalid(child(port_path, "port"), number, is_valid_port_name(number))
                elif number is not None:
                    errs += each_invalid(
                        child(port_path, "port"), as_int(number) or 0, is_valid_port_num(as_int(number) or 0)
                    )
            for j, peer in enumerate(map(as_map, as_list(rule.get(peers_field)))):
                errs += _validate_network_policy_peer(peer, subscript(child(rule_path, peers_field), j))
    policy_types = [as_text(t) for t in as_list(spec.get("policyTypes"))]
    if len(policy_types) > 2:
        return [
            *errs,
            invalid("spec.policyTypes", policy_types, "may not specify more than two policyTypes"),
        ]
    errs += [
        not_supported(subscript("spec.policyTypes", i), policy_type, ["Ingress", "Egress"])
        for i, policy_type in enumerate(policy_types)
        if policy_type not in ("Ingress", "Egress")
    ]
    return errs
