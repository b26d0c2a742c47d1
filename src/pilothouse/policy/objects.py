"""The policy for structured cluster operations (the Cluster API, the AI's actions).

Shared by the server and the executor, like the kubectl policy: a cluster's security mode says
what may be done at all, whoever asks and with whatever scope.

- ``readOnly`` and ``extendedReadOnly``: reads (get, list, watch, logs, metrics, discovery).
- ``fullAccess``: also writes (create, replace, patch, delete) and exec/shell into pods.

Secrets may be read in every mode, because knowing which keys a Secret has is what debugging a
``CreateContainerConfigError`` needs, but their values never leave: :func:`redact_object`
replaces them (and the ``last-applied-configuration`` annotation, which repeats them) with
``<redacted>``, and :func:`carries_redacted_values` lets writers refuse a Secret that would
store the marker in place of a value (a client that read, edited and wrote back).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pilothouse.policy.modes import SecurityMode
from pilothouse.policy.redaction import REDACTED

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class Access(StrEnum):
    READ = "read"
    WRITE = "write"
    EXEC = "exec"


_REQUIRED_MODE = {
    Access.READ: SecurityMode.READ_ONLY,
    Access.WRITE: SecurityMode.FULL_ACCESS,
    Access.EXEC: SecurityMode.FULL_ACCESS,
}


class ModeForbids(Exception):
    """The cluster's security mode does not allow the operation."""


def check_access(mode: SecurityMode, access: Access, what: str) -> None:
    required = _REQUIRED_MODE[access]
    if not mode.permits(required):
        raise ModeForbids(
            f"{what} needs security mode {required.value}; this cluster is in {mode.value} mode"
        )


def _is_secret(obj: dict[str, Any]) -> bool:
    return obj.get("kind") == "Secret" and str(obj.get("apiVersion", "v1")) == "v1"


def redact_object(obj: dict[str, Any], *, kind: str | None = None) -> dict[str, Any]:
    """``obj`` with Secret values replaced (a copy only when something changes).

    ``kind`` names the kind when the object does not carry it (items of a list)."""
    if not (_is_secret(obj) or (kind == "Secret" and "kind" not in obj)):
        return obj
    redacted = dict(obj)
    for field in ("data", "stringData"):
        values = obj.get(field)
        if isinstance(values, dict):
            redacted[field] = {key: REDACTED for key in values}
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED in annotations:
            redacted["metadata"] = {**metadata, "annotations": {**annotations, LAST_APPLIED: REDACTED}}
    return redacted


def redact_items(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    if kind != "Secret":
        return items
    return [redact_object(item, kind=kind) for item in items]


def carries_redacted_values(body: Any) -> bool:
    """Whether a Secret body (or patch) holds the redaction marker as a value."""
    if not isinstance(body, dict):
        return False
    return any(
        isinstance(values, dict) and REDACTED in values.values()
        for values in (body.get("data"), body.get("stringData"))
    )
