"""Labels, annotations and label selectors (apimachinery apis/meta/v1/validation)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from .errors import (
    Errors,
    GoEnum,
    GoStruct,
    child,
    each_invalid,
    forbidden,
    invalid,
    required,
    subscript,
    too_long,
)
from .fields import JsonObject, as_list, as_map, as_text, str_map
from .formats import byte_len, is_qualified_name, is_valid_label_value

_TOTAL_ANNOTATION_SIZE_LIMIT: Final = 256 * 1024


def validate_labels(labels: Mapping[str, str], path: str) -> Errors:
    errs: Errors = []
    for key, value in labels.items():
        errs += each_invalid(path, key, is_qualified_name(key))
        errs += each_invalid(path, value, is_valid_label_value(value))
    return errs


def validate_annotations(annotations: Mapping[str, str], path: str) -> Errors:
    # Annotation keys are qualified names, except that case does not matter.
    errs = [invalid(path, key, msg) for key in annotations for msg in is_qualified_name(key.lower())]
    total = sum(byte_len(key) + byte_len(value) for key, value in annotations.items())
    if total > _TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, _TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


_SELECTOR_OPERATORS: Final = ("In", "NotIn", "Exists", "DoesNotExist")


def selector_value(selector: object) -> object:
    """A *metav1.LabelSelector as a bad value: JSON in field order, omitempty fields dropped."""
    if selector is None:
        return None
    raw = as_map(selector)
    value = GoStruct()
    if raw.get("matchLabels"):
        value["matchLabels"] = str_map(raw["matchLabels"])
    expressions = []
    for expr in map(as_map, as_list(raw.get("matchExpressions"))):
        item = GoStruct(key=as_text(expr.get("key")), operator=as_text(expr.get("operator")))
        if expr.get("values"):
            item["values"] = as_list(expr["values"])
        expressions.append(item)
    if expressions:
        value["matchExpressions"] = expressions
    return value


def validate_label_selector(selector: JsonObject, path: str) -> Errors:
    errs = validate_labels(str_map(selector.get("matchLabels")), child(path, "matchLabels"))
    for i, expr in enumerate(map(as_map, as_list(selector.get("matchExpressions")))):
        expr_path = subscript(child(path, "matchExpressions"), i)
        operator, values = as_text(expr.get("operator")), [as_text(v) for v in as_list(expr.get("values"))]
        if operator in ("In", "NotIn") and not values:
            errs.append(
                required(child(expr_path, "values"), "must be specified when `operator` is 'In' or 'NotIn'")
            )
        elif operator in ("Exists", "DoesNotExist") and values:
            errs.append(
                forbidden(
                    child(expr_path, "values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
            )
        elif operator not in _SELECTOR_OPERATORS:
            errs.append(
                invalid(child(expr_path, "operator"), GoEnum(operator), "not a valid selector operator")
            )
        key = as_text(expr.get("key"))
        errs += each_invalid(child(expr_path, "key"), key, is_qualified_name(key))
        for j, value in enumerate(values):
            errs += each_invalid(subscript(child(expr_path, "values"), j), value, is_valid_label_value(value))
    return errs


def selector_matches(selector: object, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelectorAsSelector(selector).Matches(labels): nil matches nothing, {} everything."""
    if selector is None:
        return False
    raw = as_map(selector)
    if any(labels.get(key) != value for key, value in str_map(raw.get("matchLabels")).items()):
        return False
    for expr in map(as_map, as_list(raw.get("matchExpressions"))):
        key, operator, values = as_text(expr.get("key")), expr.get("operator"), as_list(expr.get("values"))
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def selector_is_empty(selector: object) -> bool:
    """labels.Selector.Empty(): true only for a non-nil selector without requirements."""
    raw = as_map(selector)
    return selector is not None and not raw.get("matchLabels") and not raw.get("matchExpressions")


def selector_parses(selector: object) -> bool:
    """Whether LabelSelectorAsSelector succeeds: it rejects exactly what strict validation rejects."""
    return selector is None or not validate_label_selector(as_map(selector), "")
