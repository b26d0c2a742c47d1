"""The kubectl flags the policy knows: the ones a command may use, and the ones nobody may use.

Flags follow kubectl's pflag rules, so the parser accepts every spelling kubectl accepts:
``--name=value``, ``--name value``, ``-n value``, ``-nvalue``, ``-n=value``, clusters of boolean
shorthands (``-Ap``) and underscores for dashes in long names (``--all_namespaces``). Long names
are case-sensitive, so ``--Token`` is simply an unknown flag.

Allowed flags are grouped below and composed per command in ``commands``. Denied flags carry the
reason they are denied in every command, whatever spelling is used:

* identity and transport: they would make kubectl act as someone else or talk to another server;
* verbosity and profiling: ``-v=8`` prints request headers, bearer token included, and profiles
  are written to the executor's disk;
* local files: the executor's filesystem (its service account token, its kubeconfig) is not the
  caller's to read or write, and a URL given to ``-f`` would be fetched from inside the cluster;
* interactive input: commands run without a terminal or standard input.

Watching and following (``get -w``, ``logs -f``, ``rollout status``, which watches by default)
are allowed: every command runs under the executor's timeout, so they end, and the Kubently API
itself shows ``logs -f``. A policy built with ``allow_streaming=False`` denies them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from pilothouse.policy.modes import SecurityMode


class ValueKind(Enum):
    BOOL = "bool"  # --flag or --flag=true|false; never takes the next argument
    SCALAR = "scalar"  # exactly one value; repeating the flag is ambiguous and denied
    LIST = "list"  # may repeat; values accumulate, as kubectl's string-array flags do


@dataclass(frozen=True)
class FlagSpec:
    """One flag a command may use."""

    name: str
    kind: ValueKind
    short: str | None = None
    choices: frozenset[str] | None = None
    min_mode: SecurityMode = SecurityMode.READ_ONLY
    streaming: bool = False  # keeps the command running until it is stopped


def bool_flag(
    name: str,
    short: str | None = None,
    *,
    streaming: bool = False,
    min_mode: SecurityMode = SecurityMode.READ_ONLY,
) -> FlagSpec:
    return FlagSpec(name, ValueKind.BOOL, short, streaming=streaming, min_mode=min_mode)


def value_flag(
    name: str, short: str | None = None, *, min_mode: SecurityMode = SecurityMode.READ_ONLY
) -> FlagSpec:
    return FlagSpec(name, ValueKind.SCALAR, short, min_mode=min_mode)


def list_flag(name: str, short: str | None = None) -> FlagSpec:
    return FlagSpec(name, ValueKind.LIST, short)


def choice_flag(name: str, *choices: str) -> FlagSpec:
    return FlagSpec(name, ValueKind.SCALAR, choices=frozenset(choices))


# --- flags every command accepts ------------------------------------------------------------
NAMESPACE = value_flag("namespace", "n")
REQUEST_TIMEOUT = value_flag("request-timeout")
GLOBAL_FLAGS = (NAMESPACE, REQUEST_TIMEOUT)

# --- reusable groups -------------------------------------------------------------------------
OUTPUT = value_flag("output", "o")
PRINTING = (
    OUTPUT,
    value_flag("template"),
    bool_flag("allow-missing-template-keys"),
    bool_flag("show-managed-fields"),
)
ALL_NAMESPACES = bool_flag("all-namespaces", "A")
SELECTOR = value_flag("selector", "l")
FIELD_SELECTOR = value_flag("field-selector")
CHUNK_SIZE = value_flag("chunk-size")
NO_HEADERS = bool_flag("no-headers")
SORT_BY = value_flag("sort-by")
DRY_RUN = choice_flag("dry-run", "none", "server", "client")
FIELD_MANAGER = value_flag("field-manager")
TIMEOUT = value_flag("timeout")
ALL = bool_flag("all")
OVERWRITE = bool_flag("overwrite")
RESOURCE_VERSION = value_flag("resource-version")
POD_RUNNING_TIMEOUT = value_flag("pod-running-timeout")
QUIET = bool_flag("quiet", "q")
VALIDATE = choice_flag("validate", "strict", "warn", "ignore", "true", "false")
SAVE_CONFIG = bool_flag("save-config")
SUBRESOURCE = choice_flag("subresource", "status", "scale", "resize")
GRACE_PERIOD = value_flag("grace-period")
FORCE = bool_flag("force")
CASCADE = choice_flag("cascade", "background", "foreground", "orphan", "true", "false")
WATCH = bool_flag("watch", "w", streaming=True)

# --- flags denied everywhere, by reason --------------------------------------------------------
_IDENTITY = "it changes the identity, credentials or server kubectl uses; commands run as the executor only"
_DIAGNOSTICS = "verbose and profiling output can contain credentials and writes to the executor's disk"
_LOCAL_FILES = "it reads or writes files on the executor; send objects through the API instead"
_INTERACTIVE = "commands run without a terminal or standard input"
_RAW = "raw API requests bypass the resource checks of this policy"
_PRIVILEGED = "privileged containers give root on the node"

DENIED_FLAGS: dict[str, str] = {
    **dict.fromkeys(
        (
            "as",
            "as-group",
            "as-uid",
            "as-user-extra",
            "user",
            "username",
            "password",
            "token",
            "kubeconfig",
            "context",
            "cluster",
            "server",
            "certificate-authority",
            "client-certificate",
            "client-key",
            "insecure-skip-tls-verify",
            "insecure-skip-tls-verify-backend",
            "tls-server-name",
            "proxy-url",
            "disable-compression",
            "match-server-version",
        ),
        _IDENTITY,
    ),
    **dict.fromkeys(("v", "vmodule", "profile", "profile-output", "log-flush-frequency"), _DIAGNOSTICS),
    **dict.fromkeys(
        (
            "filename",
            "kustomize",
            "recursive",
            "cache-dir",
            "kuberc",
            "output-directory",
            "from-file",
            "from-env-file",
            "patch-file",
            "local",
        ),
        _LOCAL_FILES,
    ),
    **dict.fromkeys(("stdin", "tty", "interactive", "attach", "rm", "leave-stdin-open"), _INTERACTIVE),
    "raw": _RAW,
    "privileged": _PRIVILEGED,
}

# Whole families of identity flags, present and future (--client-*, --as-*).
DENIED_PREFIXES: dict[str, str] = {"client-": _IDENTITY, "as-": _IDENTITY}

# Shorthands of denied flags, consulted only when the command has no allowed flag with that letter
# (``-f`` is --follow for logs but --filename for get).
DENIED_SHORTHANDS: dict[str, str] = {
    "s": "server",
    "v": "v",
    "f": "filename",
    "k": "kustomize",
    "R": "recursive",
    "i": "stdin",
    "t": "tty",
}


def denial_reason(name: str) -> str | None:
    """Why the long flag ``name`` is denied everywhere, or None if it is not."""
    if name in DENIED_FLAGS:
        return DENIED_FLAGS[name]
    for prefix, reason in DENIED_PREFIXES.items():
        if name.startswith(prefix):
            return reason
    return None


# --- output formats -----------------------------------------------------------------------------
# Formats that only reshape the object kubectl fetched. Templates cannot reach other objects or
# files, so they reveal nothing -o json would not.
OUTPUT_FORMATS = frozenset(
    {
        "json",
        "yaml",
        "wide",
        "name",
        "jsonpath",
        "jsonpath-as-json",
        "custom-columns",
        "go-template",
        "template",
        "plaintext",
        "plaintext-openapiv2",
    }
)
# Formats whose argument is a path on the executor.
FILE_OUTPUT_FORMATS = frozenset({"go-template-file", "templatefile", "jsonpath-file", "custom-columns-file"})
# Formats whose Secret values the redactor recognises. Templates, jsonpath and custom columns can
# print a bare (even base64-decoded) value that no redactor could tell from ordinary text.
REDACTABLE_OUTPUT_FORMATS = frozenset({"json", "yaml", "wide", "name"})
# kubectl switches to go-template output when --template is given without -o.
TEMPLATE_DEFAULT_FORMAT = "go-template"


def output_format_name(value: str) -> str:
    """``jsonpath`` for ``jsonpath={.items}``: the part of an -o value before its argument."""
    return value.partition("=")[0]


_BOOL_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_BOOL_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})


def parse_bool(text: str) -> bool | None:
    """Go's strconv.ParseBool, which pflag uses; None when the text is not a boolean."""
    if text in _BOOL_TRUE:
        return True
    if text in _BOOL_FALSE:
        return False
    return None


# A namespace is a DNS-1123 label.
NAMESPACE_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
