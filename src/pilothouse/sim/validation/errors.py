"""Field errors and the 422 Status, rendered as k8s.io/apimachinery/pkg/util/validation/field does."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

REQUIRED: Final = "FieldValueRequired"
INVALID: Final = "FieldValueInvalid"
NOT_SUPPORTED: Final = "FieldValueNotSupported"
DUPLICATE: Final = "FieldValueDuplicate"
FORBIDDEN: Final = "FieldValueForbidden"
TOO_LONG: Final = "FieldValueTooLong"
NOT_FOUND: Final = "FieldValueNotFound"


@dataclass(frozen=True)
class FieldCause:
    """One ``field.Error``: ``message`` is its ErrorBody (the text after ``field: ``)."""

    reason: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


Errors = list[FieldCause]


class InvalidObject(Exception):
    """The object failed validation; ``to_status()`` is the 422 the real server sends."""

    def __init__(self, kind: str, group: str, name: str, causes: Sequence[FieldCause]) -> None:
        self.kind = kind
        self.group = group
        self.name = name
        self.causes = list(causes)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        # schema.GroupKind.String() and utilerrors.Aggregate: repeated lines are shown once,
        # several are bracketed.
        qualified_kind = f"{self.kind}.{self.group}" if self.group else self.kind
        lines = list(dict.fromkeys(str(cause) for cause in self.causes))
        aggregate = lines[0] if len(lines) == 1 else "[" + ", ".join(lines) + "]"
        return f"{qualified_kind} {go_quote(self.name)} is invalid: {aggregate}"

    def to_status(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        # metav1.StatusDetails and StatusCause fields are all omitempty.
        for key, value in (("name", self.name), ("group", self.group), ("kind", self.kind)):
            if value:
                details[key] = value
        details["causes"] = [
            {
                key: value
                for key, value in (("reason", c.reason), ("message", c.message), ("field", c.field))
                if value
            }
            for c in self.causes
        ]
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": "Invalid",
            "details": details,
            "code": 422,
        }


class GoStruct(dict[str, Any]):
    """A Go struct as a bad value: JSON keeps the field order (Go maps are sorted instead)."""


class GoEnum(str):
    """A Go named string type (core.RestartPolicy, ...): ErrorBody renders it with JSON, not %q."""

    __slots__ = ()


_GO_ESCAPES: Final = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}
_JSON_HTML_ESCAPES: Final = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def go_quote(text: str) -> str:
    """Go's strconv.Quote (what %q prints)."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():  # same classes as Go's unicode.IsPrint
            out.append(char)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _go_json(value: object) -> str:
    """encoding/json.Marshal: compact, map keys sorted, HTML characters escaped."""
    text = json.dumps(_json_ready(value), ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in _JSON_HTML_ESCAPES:
        text = text.replace(raw, escaped)
    return text


def _json_ready(value: object) -> object:
    if isinstance(value, GoStruct):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, dict):
        return {key: _json_ready(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def render(value: object) -> str:
    """How field.Error.ErrorBody prints a bad value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and not isinstance(value, GoEnum):
        return go_quote(value)
    return _go_json(value)


def _with_detail(text: str, detail: str) -> str:
    return f"{text}: {detail}" if detail else text


def required(path: str, detail: str = "") -> FieldCause:
    return FieldCause(REQUIRED, path, _with_detail("Required value", detail))


def invalid(path: str, value: object, detail: str) -> FieldCause:
    return FieldCause(INVALID, path, _with_detail(f"Invalid value: {render(value)}", detail))


def not_supported(path: str, value: object, supported: Sequence[str]) -> FieldCause:
    # Enumerations are named string types in Go, so a plain str renders like one (JSON).
    shown = GoEnum(value) if isinstance(value, str) else value
    detail = "supported values: " + ", ".join(go_quote(v) for v in supported) if supported else ""
    return FieldCause(NOT_SUPPORTED, path, _with_detail(f"Unsupported value: {render(shown)}", detail))


def duplicate(path: str, value: object) -> FieldCause:
    return FieldCause(DUPLICATE, path, f"Duplicate value: {render(value)}")


def not_found(path: str, value: object) -> FieldCause:
    return FieldCause(NOT_FOUND, path, f"Not found: {render(value)}")


def forbidden(path: str, detail: str) -> FieldCause:
    return FieldCause(FORBIDDEN, path, _with_detail("Forbidden", detail))


def too_long(path: str, max_bytes: int) -> FieldCause:
    unit = "byte" if max_bytes == 1 else "bytes"
    return FieldCause(TOO_LONG, path, f"Too long: may not be more than {max_bytes} {unit}")


def child(path: str, *names: str) -> str:
    """field.Path.Child."""
    return ".".join([path, *names]) if path else ".".join(names)


def subscript(path: str, key: str | int) -> str:
    """field.Path.Key / Index."""
    return f"{path}[{key}]"


def each_invalid(path: str, value: object, messages: Iterable[str]) -> Errors:
    return [invalid(path, value, message) for message in messages]
