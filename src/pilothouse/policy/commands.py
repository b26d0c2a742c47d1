"""Which kubectl commands each security mode allows, with the flags and operands of each.

readOnly (the default) reads cluster state without Secret objects:
    get, describe, logs, top pod|node, events, explain, api-resources, api-versions, version,
    cluster-info, auth can-i, auth whoami, rollout status, rollout history.
extendedReadOnly adds bulk reads, which may be large and reveal every pod's logs at once:
    cluster-info dump (to standard output only), logs --all-pods and --max-log-requests.
fullAccess adds changes and Secret objects:
    delete, scale, patch, label, annotate, taint, cordon, uncordon, drain,
    rollout restart|undo|pause|resume, set image|resources, exec (non-interactive), run,
    create namespace|serviceaccount|deployment|job|configmap (from literals).

Denied in every mode (see ``ALWAYS_DENIED``): interactive commands (edit, attach, debug),
commands that open ports on the executor (port-forward, proxy), commands that need local files
or kubeconfig (apply, replace, diff, kustomize, cp, config), plugins, and CSR approval. ``exec``
is not "read-only" in any sense (it runs arbitrary code in a container), so it is fullAccess only;
interactive shells go through the streaming exec API, not through this argv path.
``cluster-info dump`` is not in readOnly because it dumps every pod's logs in the cluster.
Any other verb is unknown and denied: kubectl runs an unknown verb as a plugin binary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from pilothouse.policy.flags import (
    ALL,
    ALL_NAMESPACES,
    CASCADE,
    CHUNK_SIZE,
    DRY_RUN,
    FIELD_MANAGER,
    FIELD_SELECTOR,
    FORCE,
    GLOBAL_FLAGS,
    GRACE_PERIOD,
    NO_HEADERS,
    OUTPUT,
    OVERWRITE,
    POD_RUNNING_TIMEOUT,
    PRINTING,
    QUIET,
    RESOURCE_VERSION,
    SAVE_CONFIG,
    SELECTOR,
    SORT_BY,
    SUBRESOURCE,
    TIMEOUT,
    VALIDATE,
    WATCH,
    FlagSpec,
    bool_flag,
    choice_flag,
    list_flag,
    value_flag,
)
from pilothouse.policy.modes import SecurityMode

READ_ONLY = SecurityMode.READ_ONLY
EXTENDED = SecurityMode.EXTENDED_READ_ONLY
FULL = SecurityMode.FULL_ACCESS


class Operands(Enum):
    """The shape of a command's positional arguments."""

    NONE = "none"  # no positional arguments
    RESOURCES = "resources"  # TYPE[,TYPE...] [NAME...]  or  TYPE/NAME...
    LOG_TARGET = "log-target"  # [POD | TYPE/NAME] [CONTAINER]
    NAMES = "names"  # NAME... of the rule's fixed resource type
    EXPLAIN = "explain"  # TYPE[.FIELD.PATH]
    ACCESS_CHECK = "access-check"  # VERB [TYPE | TYPE/NAME | NONRESOURCEURL]
    POD_TARGET = "pod-target"  # POD | TYPE/NAME
    NEW_OBJECT = "new-object"  # NAME of the object to create


class Tail(Enum):
    """Whether a container command may follow ``--``."""

    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


# Operands that edit an object rather than name one.
LABEL_EDIT = re.compile(r"[^=]+=.*|[^=]+-")  # key=value, key-
TAINT_EDIT = re.compile(r"[^=:]+(?:=[^:]*)?:[A-Za-z]+-?|[^=:]+-")  # key=value:Effect, key:Effect-, key-
IMAGE_EDIT = re.compile(r"[^=]+=.+")  # container=image


@dataclass(frozen=True)
class CommandRule:
    """What one kubectl command (verb and optional subcommand) may do."""

    min_mode: SecurityMode
    operands: Operands
    flags: tuple[FlagSpec, ...] = ()
    resource: str | None = None  # the fixed resource type of NAMES and NEW_OBJECT
    max_names: int | None = None
    edits: re.Pattern[str] | None = None  # operands matching this are edits, not names
    tail: Tail = Tail.NONE
    reads_objects: bool = True  # explain and auth can-i read schemas and permissions, not objects
    streams_by_default: bool = False  # runs until stopped unless --watch=false
    long_flags: dict[str, FlagSpec] = field(init=False, repr=False, compare=False)
    short_flags: dict[str, FlagSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        specs = (*GLOBAL_FLAGS, *self.flags)
        long_flags = {spec.name: spec for spec in specs}
        short_flags = {spec.short: spec for spec in specs if spec.short}
        if len(long_flags) != len(specs) or len(short_flags) != sum(1 for spec in specs if spec.short):
            raise ValueError(f"duplicate flag in command rule: {[spec.name for spec in specs]}")
        object.__setattr__(self, "long_flags", long_flags)
        object.__setattr__(self, "short_flags", short_flags)


_CREATE_FLAGS = (*PRINTING, DRY_RUN, FIELD_MANAGER, SAVE_CONFIG, VALIDATE)
_LABEL_FLAGS = (
    *PRINTING,
    ALL,
    ALL_NAMESPACES,
    DRY_RUN,
    FIELD_MANAGER,
    FIELD_SELECTOR,
    bool_flag("list"),
    OVERWRITE,
    RESOURCE_VERSION,
    SELECTOR,
)
_ROLLOUT_CHANGE_FLAGS = (*PRINTING, FIELD_MANAGER, SELECTOR)
_NODE_FLAGS = (DRY_RUN, SELECTOR)

RULES: dict[tuple[str, str | None], CommandRule] = {
    # --- readOnly ---------------------------------------------------------------------------
    ("get", None): CommandRule(
        READ_ONLY,
        Operands.RESOURCES,
        (
            *PRINTING,
            ALL_NAMESPACES,
            CHUNK_SIZE,
            FIELD_SELECTOR,
            bool_flag("ignore-not-found"),
            list_flag("label-columns", "L"),
            NO_HEADERS,
            bool_flag("output-watch-events"),
            SELECTOR,
            bool_flag("server-print"),
            bool_flag("show-kind"),
            bool_flag("show-labels"),
            SORT_BY,
            SUBRESOURCE,
            WATCH,
            bool_flag("watch-only", streaming=True),
        ),
    ),
    ("describe", None): CommandRule(
        READ_ONLY,
        Operands.RESOURCES,
        (ALL_NAMESPACES, CHUNK_SIZE, SELECTOR, bool_flag("show-events")),
    ),
    ("logs", None): CommandRule(
        READ_ONLY,
        Operands.LOG_TARGET,
        (
            bool_flag("all-containers"),
            bool_flag("all-pods", min_mode=EXTENDED),
            value_flag("container", "c"),
            bool_flag("follow", "f", streaming=True),
            bool_flag("ignore-errors"),
            value_flag("limit-bytes"),
            value_flag("max-log-requests", min_mode=EXTENDED),
            POD_RUNNING_TIMEOUT,
            bool_flag("prefix"),
            bool_flag("previous", "p"),
            SELECTOR,
            value_flag("since"),
            value_flag("since-time"),
            value_flag("tail"),
            bool_flag("timestamps"),
        ),
    ),
    ("top", "pod"): CommandRule(
        READ_ONLY,
        Operands.NAMES,
        (
            ALL_NAMESPACES,
            bool_flag("containers"),
            FIELD_SELECTOR,
            NO_HEADERS,
            SELECTOR,
            SORT_BY,
            bool_flag("show-swap"),
            bool_flag("sum"),
            bool_flag("use-protocol-buffers"),
        ),
        resource="pods",
        max_names=1,
    ),
    ("top", "node"): CommandRule(
        READ_ONLY,
        Operands.NAMES,
        (
            NO_HEADERS,
            SELECTOR,
            bool_flag("show-capacity"),
            bool_flag("show-swap"),
            SORT_BY,
            bool_flag("use-protocol-buffers"),
        ),
        resource="nodes",
        max_names=1,
    ),
    ("events", None): CommandRule(
        READ_ONLY,
        Operands.NONE,
        (*PRINTING, ALL_NAMESPACES, CHUNK_SIZE, value_flag("for"), NO_HEADERS, list_flag("types"), WATCH),
    ),
    ("explain", None): CommandRule(
        READ_ONLY,
        Operands.EXPLAIN,
        (value_flag("api-version"), value_flag("max-depth"), OUTPUT, bool_flag("recursive", "R")),
        reads_objects=False,
    ),
    ("api-resources", None): CommandRule(
        READ_ONLY,
        Operands.NONE,
        (
            value_flag("api-group"),
            list_flag("categories"),
            bool_flag("namespaced"),
            NO_HEADERS,
            OUTPUT,
            SORT_BY,
            list_flag("verbs"),
        ),
    ),
    ("api-versions", None): CommandRule(READ_ONLY, Operands.NONE),
    ("version", None): CommandRule(READ_ONLY, Operands.NONE, (bool_flag("client"), OUTPUT)),
    ("cluster-info", None): CommandRule(READ_ONLY, Operands.NONE),
    ("auth", "can-i"): CommandRule(
        READ_ONLY,
        Operands.ACCESS_CHECK,
        (ALL_NAMESPACES, bool_flag("list"), NO_HEADERS, QUIET, value_flag("subresource")),
        reads_objects=False,
    ),
    ("auth", "whoami"): CommandRule(READ_ONLY, Operands.NONE, PRINTING),
    ("rollout", "status"): CommandRule(
        READ_ONLY,
        Operands.RESOURCES,
        (SELECTOR, value_flag("revision"), TIMEOUT, WATCH),
        streams_by_default=True,
    ),
    ("rollout", "history"): CommandRule(
        READ_ONLY, Operands.RESOURCES, (*PRINTING, SELECTOR, value_flag("revision"))
    ),
    # --- extendedReadOnly -------------------------------------------------------------------
    ("cluster-info", "dump"): CommandRule(
        EXTENDED,
        Operands.NONE,
        (*PRINTING, ALL_NAMESPACES, list_flag("namespaces"), POD_RUNNING_TIMEOUT),
    ),
    # --- fullAccess -------------------------------------------------------------------------
    ("delete", None): CommandRule(
        FULL,
        Operands.RESOURCES,
        (
            ALL,
            ALL_NAMESPACES,
            CASCADE,
            DRY_RUN,
            FIELD_SELECTOR,
            FORCE,
            GRACE_PERIOD,
            bool_flag("ignore-not-found"),
            bool_flag("now"),
            OUTPUT,
            SELECTOR,
            TIMEOUT,
            bool_flag("wait"),
        ),
    ),
    ("scale", None): CommandRule(
        FULL,
        Operands.RESOURCES,
        (
            *PRINTING,
            ALL,
            value_flag("current-replicas"),
            DRY_RUN,
            value_flag("replicas"),
            RESOURCE_VERSION,
            SELECTOR,
            TIMEOUT,
        ),
    ),
    ("patch", None): CommandRule(
        FULL,
        Operands.RESOURCES,
        (
            *PRINTING,
            DRY_RUN,
            FIELD_MANAGER,
            value_flag("patch", "p"),
            SUBRESOURCE,
            choice_flag("type", "json", "merge", "strategic"),
        ),
    ),
    ("label", None): CommandRule(FULL, Operands.RESOURCES, _LABEL_FLAGS, edits=LABEL_EDIT),
    ("annotate", None): CommandRule(FULL, Operands.RESOURCES, _LABEL_FLAGS, edits=LABEL_EDIT),
    ("taint", None): CommandRule(
        FULL,
        Operands.RESOURCES,
        (*PRINTING, ALL, DRY_RUN, FIELD_MANAGER, OVERWRITE, SELECTOR, VALIDATE),
        edits=TAINT_EDIT,
    ),
    ("cordon", None): CommandRule(FULL, Operands.NAMES, _NODE_FLAGS, resource="nodes"),
    ("uncordon", None): CommandRule(FULL, Operands.NAMES, _NODE_FLAGS, resource="nodes"),
    ("drain", None): CommandRule(
        FULL,
        Operands.NAMES,
        (
            CHUNK_SIZE,
            bool_flag("delete-emptydir-data"),
            bool_flag("disable-eviction"),
            DRY_RUN,
            FORCE,
            GRACE_PERIOD,
            bool_flag("ignore-daemonsets"),
            value_flag("pod-selector"),
            SELECTOR,
            value_flag("skip-wait-for-delete-timeout"),
            TIMEOUT,
        ),
        resource="nodes",
    ),
    ("rollout", "restart"): CommandRule(FULL, Operands.RESOURCES, _ROLLOUT_CHANGE_FLAGS),
    ("rollout", "pause"): CommandRule(FULL, Operands.RESOURCES, _ROLLOUT_CHANGE_FLAGS),
    ("rollout", "resume"): CommandRule(FULL, Operands.RESOURCES, _ROLLOUT_CHANGE_FLAGS),
    ("rollout", "undo"): CommandRule(
        FULL, Operands.RESOURCES, (*PRINTING, DRY_RUN, SELECTOR, value_flag("to-revision"))
    ),
    ("set", "image"): CommandRule(
        FULL,
        Operands.RESOURCES,
        (*PRINTING, ALL, DRY_RUN, FIELD_MANAGER, SELECTOR),
        edits=IMAGE_EDIT,
    ),
    ("set", "resources"): CommandRule(
        FULL,
        Operands.RESOURCES,
        (
            *PRINTING,
            ALL,
            value_flag("containers", "c"),
            DRY_RUN,
            FIELD_MANAGER,
            value_flag("limits"),
            value_flag("requests"),
            SELECTOR,
        ),
    ),
    ("exec", None): CommandRule(
        FULL,
        Operands.POD_TARGET,
        (value_flag("container", "c"), POD_RUNNING_TIMEOUT, QUIET),
        tail=Tail.REQUIRED,
    ),
    ("run", None): CommandRule(
        FULL,
        Operands.NEW_OBJECT,
        (
            *PRINTING,
            list_flag("annotations"),
            CASCADE,
            bool_flag("command"),
            DRY_RUN,
            list_flag("env"),
            bool_flag("expose"),
            FIELD_MANAGER,
            FORCE,
            GRACE_PERIOD,
            value_flag("image"),
            choice_flag("image-pull-policy", "Always", "IfNotPresent", "Never"),
            value_flag("labels", "l"),
            choice_flag("override-type", "json", "merge", "strategic"),
            value_flag("overrides"),
            POD_RUNNING_TIMEOUT,
            value_flag("port"),
            QUIET,
            choice_flag("restart", "Always", "OnFailure", "Never"),
            SAVE_CONFIG,
            TIMEOUT,
            bool_flag("wait"),
        ),
        resource="pods",
        tail=Tail.OPTIONAL,
    ),
    ("create", "namespace"): CommandRule(FULL, Operands.NEW_OBJECT, _CREATE_FLAGS, resource="namespaces"),
    ("create", "serviceaccount"): CommandRule(
        FULL, Operands.NEW_OBJECT, _CREATE_FLAGS, resource="serviceaccounts"
    ),
    ("create", "deployment"): CommandRule(
        FULL,
        Operands.NEW_OBJECT,
        (*_CREATE_FLAGS, list_flag("image"), value_flag("port"), value_flag("replicas", "r")),
        resource="deployments",
        tail=Tail.OPTIONAL,
    ),
    ("create", "job"): CommandRule(
        FULL,
        Operands.NEW_OBJECT,
        (*_CREATE_FLAGS, value_flag("from"), value_flag("image")),
        resource="jobs",
        tail=Tail.OPTIONAL,
    ),
    ("create", "configmap"): CommandRule(
        FULL,
        Operands.NEW_OBJECT,
        (*_CREATE_FLAGS, bool_flag("append-hash"), list_flag("from-literal")),
        resource="configmaps",
    ),
}

# kubectl's own aliases for subcommands.
SUBCOMMAND_ALIASES: dict[tuple[str, str], str] = {
    ("top", "po"): "pod",
    ("top", "pods"): "pod",
    ("top", "no"): "node",
    ("top", "nodes"): "node",
    ("create", "ns"): "namespace",
    ("create", "sa"): "serviceaccount",
    ("create", "deploy"): "deployment",
    ("create", "cm"): "configmap",
}

# Verbs whose first operand is a subcommand; required unless the verb also works alone.
SUBCOMMAND_VERBS: frozenset[str] = frozenset(verb for verb, sub in RULES if sub is not None)

_INTERACTIVE = "it needs an interactive terminal; commands run without one"
_LISTENS = "it opens a listening port on the executor"
_LOCAL_FILES = "it needs files on the executor; send objects through the API instead"

ALWAYS_DENIED: dict[str, str] = {
    "edit": f"{_INTERACTIVE} (use patch in fullAccess mode)",
    "attach": _INTERACTIVE,
    "debug": f"{_INTERACTIVE}, and node debugging gives root on the node",
    "port-forward": _LISTENS,
    "proxy": _LISTENS,
    "cp": "it copies files to and from the executor's filesystem",
    "config": "kubeconfig holds the executor's credentials",
    "apply": _LOCAL_FILES,
    "replace": _LOCAL_FILES,
    "diff": _LOCAL_FILES,
    "kustomize": _LOCAL_FILES,
    "plugin": "kubectl plugins are arbitrary programs on the executor",
    "certificate": "approving certificate signing requests mints cluster credentials",
}


def display_name(verb: str, subcommand: str | None) -> str:
    return f"kubectl {verb} {subcommand}" if subcommand else f"kubectl {verb}"


# Resource types (group, plural) whose objects hold credentials, and the mode needed to read them.
SENSITIVE_RESOURCES: dict[tuple[str, str], SecurityMode] = {("", "secrets"): FULL}
