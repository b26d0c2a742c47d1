"""ConfigMaps and Secrets (pkg/apis/core/validation)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Sequence
from typing import Final

from .errors import Errors, GoEnum, forbidden, invalid, required, subscript, too_long
from .fields import JsonObject, as_map, as_text, str_map
from .formats import byte_len, is_config_map_key
from .metadata import IMMUTABLE

_MAX_SECRET_SIZE: Final = 1024 * 1024
_REDACTED: Final = "<secret contents redacted>"


def _base64_bytes(value: object, path: str) -> tuple[bytes | None, Errors]:
    """Decode a []byte field; bad base64 is a 400 decode error in the real server, a cause here."""
    text = as_text(value)
    try:
        return base64.b64decode(text, validate=True), []
    except (binascii.Error, ValueError):
        alphabet = re.compile(r"[A-Za-z0-9+/=]")
        position = next(
            (i for i, char in enumerate(text) if not alphabet.fullmatch(char)), len(text) - len(text) % 4
        )
        return None, [invalid(path, _REDACTED, f"illegal base64 data at input byte {position}")]


def _validate_config_keys(keys: Iterable[str], path: str) -> Errors:
    return [invalid(subscript(path, key), key, msg) for key in keys for msg in is_config_map_key(key)]


def validate_config_map(obj: JsonObject, old: JsonObject | None) -> Errors:
    data, binary = str_map(obj.get("data")), as_map(obj.get("binaryData"))
    errs: Errors = []
    size = 0
    for key, value in data.items():
        errs += _validate_config_keys([key], "data")
        if key in binary:
            errs.append(invalid(subscript("data", key), key, "duplicate of key present in binaryData"))
        size += byte_len(value)
    for key, value in binary.items():
        errs += _validate_config_keys([key], "binaryData")
        decoded, decode_errs = _base64_bytes(value, subscript("binaryData", key))
        errs += decode_errs
        size += len(decoded or b"")
    if size > _MAX_SECRET_SIZE:
        errs.append(too_long("[]", _MAX_SECRET_SIZE))  # field.NewPath("") prints as "[]"
    return errs


def _go_json_object_error(raw: bytes) -> str | None:
    """Why json.Unmarshal into map[string]interface{} fails, in Go's words (None when it works)."""
    try:
        decoded = json.loads(raw)
    except UnicodeDecodeError:
        return "invalid character looking for beginning of value"
    except json.JSONDecodeError as err:
        if err.pos >= len(err.doc.rstrip()):
            return "unexpected end of JSON input"
        return f"invalid character {err.doc[err.pos]!r} looking for beginning of value"
    if not isinstance(decoded, dict):
        kind = {list: "array", str: "string", bool: "bool", type(None): "null"}.get(type(decoded), "number")
        return (
            None
            if kind == "null"
            else f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
        )
    return None


# Secret types that need particular keys, and the keys they need.
_SECRET_REQUIRED_KEYS: Final = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def _secret_data(obj: JsonObject) -> tuple[dict[str, bytes], Errors]:
    data: dict[str, bytes] = {}
    errs: Errors = []
    for key, value in as_map(obj.get("data")).items():
        decoded, decode_errs = _base64_bytes(value, subscript("data", key))
        errs += decode_errs
        data[key] = decoded or b""
    # stringData is merged into data by conversion, before validation.
    for key, value in str_map(obj.get("stringData")).items():
        data[key] = value.encode()
    return data, errs


def validate_secret(obj: JsonObject, old: JsonObject | None) -> Errors:
    data, errs = _secret_data(obj)
    errs += _validate_config_keys(data, "data")
    if sum(len(value) for value in data.values()) > _MAX_SECRET_SIZE:
        errs.append(too_long("data", _MAX_SECRET_SIZE))
    type_name = as_text(obj.get("type")) or "Opaque"
    annotations = str_map(as_map(obj.get("metadata")).get("annotations"))
    if type_name == "kubernetes.io/service-account-token" and not annotations.get(
        "kubernetes.io/service-account.name"
    ):
        errs.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif type_name == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs += [required("data[username]"), required("data[password]")]
    elif type_name == "kubernetes.io/ssh-auth" and not data.get("ssh-privatekey"):
        errs.append(required("data[ssh-privatekey]"))
    for key in _SECRET_REQUIRED_KEYS.get(type_name, ()):
        if key not in data:
            errs.append(required(subscript("data", key)))
        elif key.startswith(".docker") and (problem := _go_json_object_error(data[key])) is not None:
            errs.append(invalid(subscript("data", key), _REDACTED, problem))
    return errs


_IMMUTABLE_WHEN_SET: Final = "field is immutable when `immutable` is set"


def _immutable_data_transition(new: JsonObject, old: JsonObject, fields: Sequence[str]) -> Errors:
    if old.get("immutable") is not True:
        return []
    errs = [] if new.get("immutable") is True else [forbidden("immutable", _IMMUTABLE_WHEN_SET)]
    return errs + [
        forbidden(name, _IMMUTABLE_WHEN_SET)
        for name in fields
        if as_map(new.get(name)) != as_map(old.get(name))
    ]


def config_map_transition(new: JsonObject, old: JsonObject) -> Errors:
    return _immutable_data_transition(new, old, ("data", "binaryData"))


def secret_transition(new: JsonObject, old: JsonObject) -> Errors:
    secret_type, old_type = as_text(new.get("type")) or "Opaque", as_text(old.get("type")) or "Opaque"
    errs = [invalid("type", GoEnum(secret_type), IMMUTABLE)] if secret_type != old_type else []
    if old.get("immutable") is not True:
        return errs
    # Compare the decoded data, with stringData folded in as conversion does.
    new_data, old_data = _secret_data(new)[0], _secret_data(old)[0]
    return errs + _immutable_data_transition({**new, "data": new_data}, {**old, "data": old_data}, ("data",))
