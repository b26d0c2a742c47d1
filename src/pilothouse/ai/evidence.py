"""Building evidence and findings from what the snapshot holds.

Every quote is cut from the cluster's own text (an event message, a log line, a field's value),
never paraphrased: a reader must be able to find it with kubectl.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from pilothouse.ai.findings import (
    Category,
    Cause,
    Evidence,
    Finding,
    Recommendation,
    Remediation,
    ResourceRef,
    Role,
    Severity,
    finding_id,
    stable_id,
)
from pilothouse.ai.objects import JsonObject, d, i, s
from pilothouse.ai.snapshot import LogLines
from pilothouse.events.service import event_time, format_rfc3339

QUOTE_LIMIT = 300


def clip(text: str, limit: int = QUOTE_LIMIT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ref(obj: JsonObject) -> ResourceRef:
    return ResourceRef.of(obj)


def render(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def field(obj: JsonObject | ResourceRef, path: str, value: Any, quote: str | None = None) -> Evidence:
    resource = obj if isinstance(obj, ResourceRef) else ref(obj)
    text = quote if quote is not None else f"{path}: {render(value)}"
    return Evidence(
        id=stable_id("ev", "field", *resource.key, path, render(value)),
        kind="field",
        resource=resource,
        quote=clip(text),
        path=path,
        value=value,
    )


def event(ev: JsonObject) -> Evidence:
    involved = d(ev.get("involvedObject"))
    resource = ResourceRef(
        kind=s(involved.get("kind")) or "Unknown",
        namespace=s(involved.get("namespace")) or None,
        name=s(involved.get("name")),
        uid=s(involved.get("uid")) or None,
    )
    reason, message = s(ev.get("reason")), s(ev.get("message"))
    count = i(ev.get("count"), 1) or 1
    moment = event_time(ev)
    last_seen = format_rfc3339(moment) if moment is not None else None
    event_type = s(ev.get("type")) or None
    times = f" (x{count})" if count > 1 else ""
    return Evidence(
        id=stable_id("ev", "event", *resource.key, reason, message),
        kind="event",
        resource=resource,
        quote=clip(f"{event_type or 'Event'} {reason}{times}: {message}"),
        reason=reason,
        message=message,
        count=count,
        event_type=event_type,
        last_seen=last_seen,
    )


def log(pod: JsonObject, logs: LogLines, index: int) -> Evidence:
    """The ``index``-th (0-based) line of a container's log tail."""
    line = logs.lines[index]
    resource = ref(pod)
    where = f"{logs.pod}/{logs.container}{' (previous)' if logs.previous else ''}"
    return Evidence(
        id=stable_id("ev", "log", *resource.key, logs.container, logs.previous, line),
        kind="log",
        resource=resource,
        quote=clip(f"{where}: {line}"),
        container=logs.container,
        previous=logs.previous,
        line_number=index + 1,
        tail_lines=logs.tail_lines,
        line=line,
    )


def metric(obj: JsonObject | ResourceRef, name: str, value: Any, quote: str) -> Evidence:
    resource = obj if isinstance(obj, ResourceRef) else ref(obj)
    return Evidence(
        id=stable_id("ev", "metric", *resource.key, name, render(value)),
        kind="metric",
        resource=resource,
        quote=clip(quote),
        metric=name,
        value=value,
    )


def relation(
    obj: JsonObject | ResourceRef, name: str, target: JsonObject | ResourceRef, quote: str
) -> Evidence:
    resource = obj if isinstance(obj, ResourceRef) else ref(obj)
    other = target if isinstance(target, ResourceRef) else ref(target)
    return Evidence(
        id=stable_id("ev", "relation", *resource.key, name, *other.key),
        kind="relation",
        resource=resource,
        quote=clip(quote),
        relation=name,
        target=other,
    )


def existence(resource: ResourceRef, exists: bool, quote: str) -> Evidence:
    return Evidence(
        id=stable_id("ev", "object", *resource.key, exists),
        kind="object",
        resource=resource,
        quote=clip(quote),
        value=exists,
    )


def unique_refs(refs: Iterable[ResourceRef], exclude: ResourceRef | None = None) -> list[ResourceRef]:
    seen: set[tuple[str, str, str]] = set() if exclude is None else {exclude.key}
    found = []
    for item in refs:
        if item.key not in seen:
            seen.add(item.key)
            found.append(item)
    return found


def unique_evidence(items: Iterable[Evidence]) -> list[Evidence]:
    seen: set[str] = set()
    found = []
    for item in items:
        if item.id not in seen:
            seen.add(item.id)
            found.append(item)
    return found


def recommendations(*items: tuple[str, str]) -> list[Recommendation]:
    """``(action, details)`` pairs, prioritised in the order given."""
    return [
        Recommendation(priority=n, action=action, details=details)
        for n, (action, details) in enumerate(items, 1)
    ]


def make_finding(
    *,
    analyzer: str,
    resource: JsonObject | ResourceRef,
    cause: Cause,
    severity: Severity,
    category: Category,
    summary: str,
    evidence: Sequence[Evidence],
    role: Role = "cause",
    related: Iterable[JsonObject | ResourceRef] = (),
    depends_on: Iterable[JsonObject | ResourceRef] = (),
    recommend: Sequence[tuple[str, str]] = (),
    remediation: Remediation | None = None,
    confidence: float = 0.8,
    related_limit: int = 25,
) -> Finding:
    target = resource if isinstance(resource, ResourceRef) else ref(resource)
    related_refs = unique_refs((r if isinstance(r, ResourceRef) else ref(r) for r in related), exclude=target)
    return Finding(
        id=finding_id(analyzer, target, cause),
        analyzer=analyzer,
        resource=target,
        severity=severity,
        category=category,
        cause=cause,
        role=role,
        summary=summary,
        evidence=unique_evidence(evidence),
        recommendations=recommendations(*recommend),
        remediation=remediation,
        related=related_refs[:related_limit],
        depends_on=unique_refs(r if isinstance(r, ResourceRef) else ref(r) for r in depends_on),
        confidence=confidence,
    )
