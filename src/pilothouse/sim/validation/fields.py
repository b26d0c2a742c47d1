"""Reading loosely-typed JSON objects, and comparing them the way Go's semantic equality does."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .errors import Errors, child, invalid, render, subscript
from .quantity import QuantityError, parse_quantity

JsonObject = dict[str, Any]


def as_map(value: object) -> JsonObject:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def as_text(value: object) -> str:
    return value if isinstance(value, str) else ""


def as_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def str_map(value: object) -> dict[str, str]:
    return {str(key): as_text(item) for key, item in as_map(value).items()}


def spec_of(obj: JsonObject) -> JsonObject:
    return as_map(obj.get("spec"))


def non_negative(path: str, value: object) -> Errors:
    number = as_int(value)
    if number is None or number >= 0:
        return []
    return [invalid(path, number, "must be greater than or equal to 0")]


def _is_zero(value: object) -> bool:
    return value is None or value is False or value == 0 or value == "" or value == [] or value == {}


def semantic(value: object) -> object:
    """Go's zero-value view of JSON: absent, null, "", 0, false, [] and {} are all the same."""
    if isinstance(value, dict):
        kept = {key: semantic(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if not _is_zero(item)}
    if isinstance(value, list):
        return [semantic(item) for item in value]
    return None if _is_zero(value) else value


def semantically_equal(left: object, right: object) -> bool:
    return semantic(left) == semantic(right)


def describe_changes(old: object, new: object, path: str = "") -> list[str]:
    """The changed leaves, one per line: a readable stand-in for the cmp.Diff Go appends."""
    old_view, new_view = semantic(old), semantic(new)
    if old_view == new_view:
        return []
    if isinstance(old_view, dict) and isinstance(new_view, dict):
        lines: list[str] = []
        for key in sorted(old_view.keys() | new_view.keys()):
            lines += describe_changes(old_view.get(key), new_view.get(key), child(path, key))
        return lines
    if isinstance(old_view, list) and isinstance(new_view, list) and len(old_view) == len(new_view):
        return [
            line
            for i, (a, b) in enumerate(zip(old_view, new_view, strict=True))
            for line in describe_changes(a, b, subscript(path, i))
        ]
    shown_old = "<unset>" if old_view is None else render(old_view)
    shown_new = "<unset>" if new_view is None else render(new_view)
    return [f"  {path}: {shown_old} -> {shown_new}"]


def quantity_field(value: object, path: str) -> tuple[Decimal | None, Errors]:
    """Parse a quantity field; a malformed one becomes a cause (the real decoder answers 400)."""
    try:
        return parse_quantity(value if isinstance(value, str | int | float) else ""), []
    except QuantityError as err:
        return None, [invalid(path, value if isinstance(value, str) else str(value), str(err))]


def quantity_or_zero(value: object) -> Decimal:
    try:
        return parse_quantity(value) if isinstance(value, str | int | float) else Decimal(0)
    except QuantityError:
        return Decimal(0)
