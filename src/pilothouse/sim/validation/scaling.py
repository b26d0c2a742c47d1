"""HorizontalPodAutoscalers and PodDisruptionBudgets (pkg/apis/{autoscaling,policy}/validation)."""

from __future__ import annotations

from typing import Final

from .apps import not_more_than_100_percent, validate_int_or_percent
from .errors import (
    Errors,
    GoStruct,
    child,
    each_invalid,
    forbidden,
    invalid,
    not_supported,
    required,
    subscript,
)
from .fields import JsonObject, as_int, as_list, as_map, as_text
from .formats import is_valid_path_segment_name
from .labels import selector_value, validate_label_selector

_METRIC_SOURCE_TYPES: Final = ("ContainerResource", "External", "Object", "Pods", "Resource")
_METRIC_SOURCE_FIELDS: Final = {
    "Object": "object",
    "External": "external",
    "Pods": "pods",
    "Resource": "resource",
    "ContainerResource": "containerResource",
}


def _validate_cross_version_reference(ref: JsonObject, path: str) -> Errors:
    errs: Errors = []
    for name in ("kind", "name"):
        value = as_text(ref.get(name))
        if not value:
            errs.append(required(child(path, name)))
        else:
            errs += each_invalid(child(path, name), value, is_valid_path_segment_name(value))
    return errs


def _validate_metric(metric: JsonObject, path: str) -> Errors:
    metric_type = as_text(metric.get("type"))
    errs: Errors = []
    if not metric_type:
        errs.append(required(child(path, "type"), "must specify a metric source type"))
    if metric_type not in _METRIC_SOURCE_TYPES:
        errs.append(not_supported(child(path, "type"), metric_type, _METRIC_SOURCE_TYPES))
    present = [name for name in _METRIC_SOURCE_FIELDS.values() if metric.get(name) is not None]
    resource = as_map(metric.get("resource"))
    if present[:1] == ["resource"]:
        target = as_map(resource.get("target"))
        utilization, average = target.get("averageUtilization"), target.get("averageValue")
        if utilization is None and average is None:
            errs.append(
                required(
                    child(path, "resource", "target", "averageUtilization"),
                    "must set either a target raw value or a target utilization",
                )
            )
        elif utilization is not None and average is not None:
            errs.append(
                forbidden(
                    child(path, "resource", "target", "averageValue"),
                    "may not set both a target raw value and a target utilization",
                )
            )
    expected = _METRIC_SOURCE_FIELDS.get(metric_type)
    if expected is None:
        errs.append(not_supported(child(path, "type"), metric_type, _METRIC_SOURCE_TYPES))
    elif metric.get(expected) is None:
        errs.append(required(child(path, expected), "must populate information for the given metric source"))
    if len(present) != 1:
        errs += [
            forbidden(child(path, name), "must populate the given metric source only")
            for name in present
            if name != expected
        ]
    return errs


def validate_hpa(obj: JsonObject, old: JsonObject | None) -> Errors:
    spec = as_map(obj.get("spec"))
    # HPAScaleToZero is alpha: minReplicas 0 is kept only where it was already stored.
    lower_bound = 0 if old is not None and as_int(as_map(old.get("spec")).get("minReplicas")) == 0 else 1
    min_replicas = as_int(spec.get("minReplicas", 1))
    max_replicas = as_int(spec.get("maxReplicas")) or 0
    errs: Errors = []
    if min_replicas is not None and min_replicas < lower_bound:
        errs.append(
            invalid("spec.minReplicas", min_replicas, f"must be greater than or equal to {lower_bound}")
        )
    if max_replicas < 1:
        errs.append(invalid("spec.maxReplicas", max_replicas, "must be greater than 0"))
    if min_replicas is not None and max_replicas < min_replicas:
        errs.append(
            invalid("spec.maxReplicas", max_replicas, "must be greater than or equal to `minReplicas`")
        )
    errs += _validate_cross_version_reference(as_map(spec.get("scaleTargetRef")), "spec.scaleTargetRef")
    for i, metric in enumerate(map(as_map, as_list(spec.get("metrics")))):
        errs += _validate_metric(metric, subscript("spec.metrics", i))
    return errs


def _pdb_spec_value(spec: JsonObject) -> GoStruct:
    # policy.PodDisruptionBudgetSpec is an internal struct without JSON tags.
    return GoStruct(
        MinAvailable=spec.get("minAvailable"),
        Selector=selector_value(spec.get("selector")),
        MaxUnavailable=spec.get("maxUnavailable"),
        UnhealthyPodEvictionPolicy=spec.get("unhealthyPodEvictionPolicy"),
    )


def validate_pdb(obj: JsonObject, old: JsonObject | None) -> Errors:
    spec = as_map(obj.get("spec"))
    errs: Errors = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        errs.append(
            invalid("spec", _pdb_spec_value(spec), "minAvailable and maxUnavailable cannot be both set")
        )
    for name in ("minAvailable", "maxUnavailable"):
        if spec.get(name) is not None:
            errs += validate_int_or_percent(spec[name], child("spec", name))
            errs += not_more_than_100_percent(spec[name], child("spec", name))
    errs += validate_label_selector(as_map(spec.get("selector")), "spec.selector")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in ("IfHealthyBudget", "AlwaysAllow"):
        errs.append(
            not_supported(
                "spec.unhealthyPodEvictionPolicy", as_text(policy), ["AlwaysAllow", "IfHealthyBudget"]
            )
        )
    return errs
