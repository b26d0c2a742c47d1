"""String formats: DNS names, label keys and values, ports (apimachinery util/validation)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

_DNS1123_LABEL_FMT: Final = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT: Final = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT: Final = "[a-z]([-a-z0-9]*[a-z0-9])?"
_WILDCARD_DNS1123_SUBDOMAIN_FMT: Final = "\\*\\." + _DNS1123_SUBDOMAIN_FMT
_LABEL_KEY_FMT: Final = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT: Final = "(" + _LABEL_KEY_FMT + ")?"
_CONFIG_MAP_KEY_FMT: Final = "[-._a-zA-Z0-9]+"
_PERCENT_FMT: Final = "[0-9]+%"
_DNS1123_LABEL_MSG: Final = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG: Final = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_MSG: Final = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
_WILDCARD_MSG: Final = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must "
    "consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character"
)
_LABEL_KEY_MSG: Final = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_MSG: Final = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_CONFIG_MAP_KEY_MSG: Final = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
_RELAXED_ENV_MSG: Final = (
    "a valid environment variable name must consist only of printable ASCII characters other than '='"
)
_PERCENT_MSG: Final = "a valid percent string must be a numeric string followed by an ending '%'"


def _regex_error(message: str, pattern: str, *examples: str) -> str:
    if not examples:
        return f"{message} (regex used for validation is '{pattern}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{pattern}')"


def _max_len_error(length: int) -> str:
    # Recent apimachinery (api/validate/content) counts bytes, as Go's len() always did.
    return f"must be no more than {length} bytes"


def byte_len(text: str) -> int:
    return len(text.encode())


def _matches(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text) is not None


def is_dns1123_label(value: str) -> list[str]:
    """IsDNS1123Label: the error messages, empty when ``value`` is valid."""
    errs = [_max_len_error(63)] if byte_len(value) > 63 else []
    if not _matches(_DNS1123_LABEL_FMT, value):
        if _matches(_DNS1123_SUBDOMAIN_FMT, value):
            errs.append("must not contain dots")
        else:
            errs.append(_regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    """IsDNS1123Subdomain: the error messages, empty when ``value`` is valid."""
    errs = [_max_len_error(253)] if byte_len(value) > 253 else []
    if not _matches(_DNS1123_SUBDOMAIN_FMT, value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    """IsDNS1035Label: the error messages, empty when ``value`` is valid."""
    errs = [_max_len_error(63)] if byte_len(value) > 63 else []
    if not _matches(_DNS1035_LABEL_FMT, value):
        errs.append(_regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """IsQualifiedName (a label key: optional DNS subdomain prefix, '/', and a name)."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + msg for msg in is_dns1123_subdomain(prefix))
    else:
        return [
            "a valid label key "
            + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif byte_len(name) > 63:
        errs.append("name part " + _max_len_error(63))
    if not _matches(_LABEL_KEY_FMT, name):
        errs.append(
            "name part " + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def is_valid_label_value(value: str) -> list[str]:
    """IsValidLabelValue: the error messages, empty when ``value`` is valid."""
    errs = [_max_len_error(63)] if byte_len(value) > 63 else []
    if not _matches(_LABEL_VALUE_FMT, value):
        errs.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def is_wildcard_dns1123_subdomain(value: str) -> list[str]:
    errs = [_max_len_error(253)] if byte_len(value) > 253 else []
    if not _matches(_WILDCARD_DNS1123_SUBDOMAIN_FMT, value):
        errs.append(_regex_error(_WILDCARD_MSG, _WILDCARD_DNS1123_SUBDOMAIN_FMT, "*.example.com"))
    return errs


def _has_chdir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    return ["must not start with '..'"] if value.startswith("..") else []


def is_config_map_key(value: str) -> list[str]:
    errs = [_max_len_error(253)] if byte_len(value) > 253 else []
    if not _matches(_CONFIG_MAP_KEY_FMT, value):
        errs.append(
            _regex_error(_CONFIG_MAP_KEY_MSG, _CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME", "key-name")
        )
    return errs + _has_chdir_prefix(value)


def is_valid_port_num(port: int) -> list[str]:
    return [] if 1 <= port <= 65535 else ["must be between 1 and 65535, inclusive"]


def is_valid_port_name(port: str) -> list[str]:
    errs = [_max_len_error(15)] if byte_len(port) > 15 else []
    if not _matches("[-a-z0-9]+", port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if re.search("[a-z]", port) is None:
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port.startswith("-") or port.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_relaxed_env_var_name(value: str) -> list[str]:
    # RelaxedEnvironmentVariableValidation is GA: any printable ASCII but '='.
    if not value:
        return ["environment variable name must be non-empty"]
    if any(ord(char) > 0x7E or ord(char) < 0x20 or char == "=" for char in value):
        return [_RELAXED_ENV_MSG]
    return []


def is_valid_percent(value: str) -> list[str]:
    return [] if _matches(_PERCENT_FMT, value) else [_regex_error(_PERCENT_MSG, _PERCENT_FMT, "1%", "93%")]


def is_valid_path_segment_name(name: str) -> list[str]:
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in name]


NameCheck = Callable[[str, bool], list[str]]


def _mask_trailing_dash(name: str) -> str:
    # apimachinery's maskTrailingDash, including its drop-two-characters quirk.
    return name[:-2] + "a" if name.endswith("-") else name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)
