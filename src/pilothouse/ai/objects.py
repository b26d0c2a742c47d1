"""Small, defensive readers for Kubernetes JSON objects.

Objects come from clusters we do not control: every level is type-checked rather than trusted,
so an analyzer never raises on a malformed object, it just sees less.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from pilothouse.events.service import parse_rfc3339
from pilothouse.kube.quantity import QuantityError, format_quantity, parse_quantity

JsonObject = dict[str, Any]
_EMPTY: JsonObject = {}
MI = Decimal(1024 * 1024)


def d(value: Any) -> JsonObject:
    """``value`` if it is a JSON object, else an empty one (never mutate the result)."""
    return value if isinstance(value, dict) else _EMPTY


def lst(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dicts(value: Any) -> Iterator[JsonObject]:
    """The JSON objects of a list, skipping anything else."""
    for item in lst(value):
        if isinstance(item, dict):
            yield item


def s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def i(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def meta(obj: Mapping[str, Any]) -> JsonObject:
    return d(obj.get("metadata"))


def name_of(obj: Mapping[str, Any]) -> str:
    return s(meta(obj).get("name"))


def namespace_of(obj: Mapping[str, Any]) -> str:
    return s(meta(obj).get("namespace"))


def uid_of(obj: Mapping[str, Any]) -> str:
    return s(meta(obj).get("uid"))


def kind_of(obj: Mapping[str, Any]) -> str:
    return s(obj.get("kind"))


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in d(meta(obj).get("labels")).items()}


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in d(meta(obj).get("annotations")).items()}


def condition(obj: Mapping[str, Any], kind: str) -> JsonObject | None:
    for cond in dicts(d(obj.get("status")).get("conditions")):
        if cond.get("type") == kind:
            return cond
    return None


def parse_time(value: Any) -> datetime | None:
    return parse_rfc3339(value) if isinstance(value, str) and value else None


# --- label selectors ----------------------------------------------------------------------------


def matches_labels(labels: Mapping[str, str], selector: Mapping[str, Any]) -> bool:
    """A Service-style selector (a plain map): every pair must be present. Empty selects nothing."""
    if not selector:
        return False
    return all(labels.get(str(k)) == str(v) for k, v in selector.items())


def matches_selector(labels: Mapping[str, str], selector: Mapping[str, Any] | None) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions). An empty selector selects all."""
    if selector is None:
        return False
    for key, value in d(selector.get("matchLabels")).items():
        if labels.get(str(key)) != str(value):
            return False
    for expr in dicts(selector.get("matchExpressions")):
        key = s(expr.get("key"))
        operator = s(expr.get("operator"))
        values = [str(v) for v in lst(expr.get("values"))]
        present = key in labels
        if operator == "In" and (not present or labels[key] not in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def describe_selector(selector: Mapping[str, Any]) -> str:
    """``app=web,tier in (a,b)``: how kubectl writes a selector."""
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return ",".join(f"{k}={v}" for k, v in selector.items()) or "<none>"
    parts = [f"{k}={v}" for k, v in d(selector.get("matchLabels")).items()]
    for expr in dicts(selector.get("matchExpressions")):
        values = ",".join(str(v) for v in lst(expr.get("values")))
        key, operator = s(expr.get("key")), s(expr.get("operator"))
        if operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            parts.append(f"{key} {operator.lower()} ({values})")
    return ",".join(parts) or "<all>"


# --- pod templates and containers ---------------------------------------------------------------


def pod_spec_of(obj: Mapping[str, Any]) -> JsonObject:
    """The pod spec of a Pod, or of the template of a workload (a CronJob's through its job)."""
    kind = kind_of(obj)
    spec = d(obj.get("spec"))
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return d(d(d(d(spec.get("jobTemplate")).get("spec")).get("template")).get("spec"))
    return d(d(spec.get("template")).get("spec"))


def pod_spec_path(obj: Mapping[str, Any]) -> str:
    """The JSON path of :func:`pod_spec_of`'s result within ``obj``."""
    kind = kind_of(obj)
    if kind == "Pod":
        return "spec"
    if kind == "CronJob":
        return "spec.jobTemplate.spec.template.spec"
    return "spec.template.spec"


def template_labels(obj: Mapping[str, Any]) -> dict[str, str]:
    kind = kind_of(obj)
    spec = d(obj.get("spec"))
    if kind == "Pod":
        return labels_of(obj)
    if kind == "CronJob":
        template = d(d(d(spec.get("jobTemplate")).get("spec")).get("template"))
    else:
        template = d(spec.get("template"))
    return {str(k): str(v) for k, v in d(meta(template).get("labels")).items()}


def containers(pod_spec: Mapping[str, Any], *, init: bool = False) -> list[JsonObject]:
    return list(dicts(pod_spec.get("initContainers" if init else "containers")))


def container_index(pod_spec: Mapping[str, Any], name: str, *, init: bool = False) -> int:
    for index, container in enumerate(containers(pod_spec, init=init)):
        if container.get("name") == name:
            return index
    return -1


def container_spec(pod_spec: Mapping[str, Any], name: str) -> tuple[JsonObject, bool, int] | None:
    """A container by name, whether it is an init container, and its index."""
    for init in (False, True):
        index = container_index(pod_spec, name, init=init)
        if index >= 0:
            return containers(pod_spec, init=init)[index], init, index
    return None


def container_statuses(pod: Mapping[str, Any], *, init: bool = False) -> list[JsonObject]:
    key = "initContainerStatuses" if init else "containerStatuses"
    return list(dicts(d(pod.get("status")).get(key)))


def declared_ports(pod_spec: Mapping[str, Any]) -> list[JsonObject]:
    """Every containerPort of the regular containers (and restartable init sidecars)."""
    ports: list[JsonObject] = []
    for container in containers(pod_spec):
        ports.extend(dicts(container.get("ports")))
    for container in containers(pod_spec, init=True):
        if container.get("restartPolicy") == "Always":
            ports.extend(dicts(container.get("ports")))
    return ports


def port_exposed(pod_spec: Mapping[str, Any], port: Any) -> bool | None:
    """Whether a (named or numeric) port is declared by a container; None when the pod declares
    no ports at all (declaring them is optional, so nothing can be concluded)."""
    ports = declared_ports(pod_spec)
    if not ports:
        return None
    if isinstance(port, str) and not port.isdigit():
        return any(p.get("name") == port for p in ports)
    number = int(port) if isinstance(port, str) else i(port, -1)
    return any(i(p.get("containerPort"), -2) == number for p in ports)


def resolve_port(pod_spec: Mapping[str, Any], port: Any) -> int | None:
    """A probe's or Service's port as a number: named ports through the container ports."""
    if isinstance(port, int) and not isinstance(port, bool):
        return port
    if isinstance(port, str):
        if port.isdigit():
            return int(port)
        for declared in declared_ports(pod_spec):
            if declared.get("name") == port:
                number = i(declared.get("containerPort"), -1)
                return number if number >= 0 else None
    return None


def probe_port(probe: Mapping[str, Any]) -> Any:
    for handler in ("httpGet", "tcpSocket", "grpc"):
        action = probe.get(handler)
        if isinstance(action, dict):
            return action.get("port")
    return None


# --- quantities -----------------------------------------------------------------------------------


def quantity(value: Any) -> Decimal | None:
    if isinstance(value, str | int) and not isinstance(value, bool):
        try:
            return parse_quantity(value)
        except QuantityError:
            return None
    return None


def format_memory(value: Decimal) -> str:
    """Bytes as Kubernetes writes them, rounded up to a whole Mi: ``512Mi``, ``1Gi``."""
    mebibytes = (value / MI).to_integral_value(rounding=ROUND_CEILING)
    return format_quantity(mebibytes * MI, binary=True)


def format_cpu(value: Decimal) -> str:
    """Cores rounded up to a whole millicore: ``850m``, ``2``."""
    millis = (value * 1000).to_integral_value(rounding=ROUND_CEILING)
    return format_quantity(millis / 1000)


def resources_of(container: Mapping[str, Any]) -> tuple[JsonObject, JsonObject]:
    resources = d(container.get("resources"))
    return d(resources.get("requests")), d(resources.get("limits"))


# --- images -------------------------------------------------------------------------------------


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``registry/repo:tag@digest`` -> (repository with registry, tag, digest)."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = None
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        image, tag = image[:colon], image[colon + 1 :]
    return image, tag, digest


def normalize_repository(repository: str) -> str:
    """``nginx`` and ``docker.io/library/nginx`` are the same repository."""
    parts = repository.split("/")
    if len(parts) == 1:
        return f"docker.io/library/{repository}"
    if "." not in parts[0] and ":" not in parts[0] and parts[0] != "localhost":
        return f"docker.io/{repository}"
    return repository


def registry_of(repository: str) -> str:
    return normalize_repository(repository).split("/", 1)[0]
