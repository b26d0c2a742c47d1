"""Reading a cluster's events: filtered by namespace, involved object, type and time window.

The API server filters what it can (field selectors on ``involvedObject.kind``,
``involvedObject.name`` and ``type``, plus the namespace), so only candidate events are read;
the time window, which no field selector expresses, is applied here, then the sort and limit.
Core/v1 Events are read: they carry every event, including those written through
events.k8s.io, and have the ``involvedObject``/``source``/``count`` shape the spec returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pilothouse.errors import BadRequest
from pilothouse.events.schemas import EventItem, EventList, EventSource, InvolvedObject
from pilothouse.kube.ops import ClusterOps, JsonObject, ListQuery
from pilothouse.kube.resolver import ResourceResolver, UnknownResourceKind

EventType = Literal["Normal", "Warning", "Error"]
SortOrder = Literal["asc", "desc"]
DEFAULT_WINDOW = timedelta(hours=1)
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

# RFC 3339 (ASCII digits only). A "+" offset sent unencoded in a query string arrives as a
# space, so " 01:00" at the end is read as "+01:00".
_RFC3339 = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]{1,9}))?(?P<zone>[Zz]|[+\- ][0-9]{2}:[0-9]{2})"
)


def parse_rfc3339(text: str) -> datetime | None:
    """An aware UTC datetime, or None when ``text`` is not RFC 3339 with a time zone."""
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        return None
    zone = match["zone"]
    zone = "+00:00" if zone in ("Z", "z") else "+" + zone[1:] if zone[0] == " " else zone
    # Python keeps microseconds: Kubernetes MicroTime has six digits, anything finer is dropped.
    fraction = f".{match['fraction'][:6]:0<6}" if match["fraction"] else ""
    try:
        parsed = datetime.fromisoformat(f"{match['date']}T{match['time']}{fraction}{zone}")
    except ValueError:  # well-formed but impossible: month 13, 25:00:00, offset +99:00
        return None
    return parsed.astimezone(UTC)


def format_rfc3339(moment: datetime) -> str:
    """``2026-02-10T14:23:45Z``, with microseconds only when there are some."""
    moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds").replace(
        "+00:00", "Z"
    )


def invalid_parameter(name: str, message: str, value: Any = None) -> BadRequest:
    details: dict[str, Any] = {"parameter": name}
    if value is not None:
        details["value"] = value
    return BadRequest(f"Invalid parameter '{name}': {message}", error="invalid_parameter", details=details)


def time_parameter(name: str, text: str | None) -> datetime | None:
    """A ``since_time``/``until_time`` query value; 400 invalid_parameter when malformed."""
    if text is None or text == "":
        return None
    parsed = parse_rfc3339(text)
    if parsed is None:
        raise invalid_parameter(name, "expected an RFC 3339 timestamp such as 2026-02-10T14:23:45Z", text)
    return parsed


def event_time(event: JsonObject) -> datetime | None:
    """When the event last happened: lastTimestamp, else series.lastObservedTime (an event
    series written through events.k8s.io leaves lastTimestamp empty), else eventTime, else
    firstTimestamp, else the object's creationTimestamp."""
    series = event.get("series")
    candidates = (
        event.get("lastTimestamp"),
        series.get("lastObservedTime") if isinstance(series, dict) else None,
        event.get("eventTime"),
        event.get("firstTimestamp"),
        (event.get("metadata") or {}).get("creationTimestamp"),
    )
    for candidate in candidates:
        if isinstance(candidate, str) and candidate:
            parsed = parse_rfc3339(candidate)
            if parsed is not None:
                return parsed
    return None


def escape_field_value(value: str) -> str:
    """A field selector value with ``\\``, ``,`` and ``=`` escaped (apimachinery's EscapeValue),
    so that a name cannot smuggle in a second requirement."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


@dataclass(frozen=True, slots=True)
class EventFilter:
    namespace: str | None = None
    resource_kind: str | None = None
    resource_name: str | None = None
    event_type: EventType | None = None
    # None: DEFAULT_WINDOW before now (or before ``until``, when that is earlier).
    since: datetime | None = None
    # None: no upper bound. The spec's default is "now", but a cluster whose clock runs ahead of
    # ours would then have its newest events hidden; nothing can be later than now otherwise.
    until: datetime | None = None
    limit: int = DEFAULT_LIMIT
    sort_order: SortOrder = "desc"

    def field_selector(self, kind: str | None) -> str | None:
        terms = []
        if kind:
            terms.append(f"involvedObject.kind={escape_field_value(kind)}")
        if self.resource_name:
            terms.append(f"involvedObject.name={escape_field_value(self.resource_name)}")
        if self.event_type:
            terms.append(f"type={escape_field_value(self.event_type)}")
        return ",".join(terms) or None


async def list_events(
    ops: ClusterOps, resolver: ResourceResolver, query: EventFilter, *, now: datetime | None = None
) -> EventList:
    """The events matching ``query``, sorted by time, at most ``query.limit`` of them.

    ``now`` is the reference for the default window (the current time unless given).
    ``since`` later than ``until`` is a 400 ``invalid_parameter`` naming ``since_time``.
    """
    if query.since is not None and query.until is not None and query.until < query.since:
        raise invalid_parameter("since_time", "must not be later than until_time")
    end = now or datetime.now(UTC)
    if query.until is not None and query.until < end:
        # Only until_time given: the hour before it, not an empty window before now.
        end = query.until
    since = query.since or end - DEFAULT_WINDOW
    events_type = await resolver.kind("Event", "") or await resolver.resolve("events")
    kind = await canonical_kind(resolver, query.resource_kind) if query.resource_kind else None
    page = await ops.list(
        events_type, ListQuery(namespace=query.namespace or None, field_selector=query.field_selector(kind))
    )
    matching: list[tuple[datetime, JsonObject]] = []
    for event in page.items:
        moment = event_time(event)
        if moment is None or moment < since or (query.until is not None and moment > query.until):
            continue
        matching.append((moment, event))
    matching.sort(key=_sort_key, reverse=query.sort_order == "desc")
    return EventList(
        total_count=len(matching),
        items=[event_item(event, moment) for moment, event in matching[: query.limit]],
    )


async def recent_warnings(
    ops: ClusterOps,
    resolver: ResourceResolver,
    *,
    namespace: str | None,
    limit: int,
    now: datetime | None = None,
) -> list[EventItem]:
    """The newest Warning events of the last hour (what a topology view shows)."""
    result = await list_events(
        ops, resolver, EventFilter(namespace=namespace, event_type="Warning", limit=limit), now=now
    )
    return result.items


async def canonical_kind(resolver: ResourceResolver, kind: str) -> str:
    """``Pod`` for ``pod``, ``pods`` or ``po``: the spelling ``involvedObject.kind`` holds.

    A name the cluster does not serve (a CRD deleted since its events were written) is taken as
    written: its events are still there to be found.
    """
    try:
        return (await resolver.resolve(kind)).kind
    except UnknownResourceKind:
        return kind


def _sort_key(entry: tuple[datetime, JsonObject]) -> tuple[datetime, str, str]:
    # Events of the same second keep a stable order: by namespace, then name.
    metadata = entry[1].get("metadata") or {}
    return (entry[0], str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))


def event_item(event: JsonObject, moment: datetime) -> EventItem:
    metadata = event.get("metadata") or {}
    involved = event.get("involvedObject") or {}
    source = event.get("source") or {}
    series = event.get("series")
    count = event.get("count")
    if count is None and isinstance(series, dict):
        count = series.get("count")
    component = source.get("component") or event.get("reportingComponent") or None
    host = source.get("host") or None
    return EventItem(
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        type=_text(event.get("type")),
        reason=_text(event.get("reason")),
        message=_text(event.get("message")),
        involved_object=InvolvedObject(
            kind=_text(involved.get("kind")),
            namespace=_text(involved.get("namespace")),
            name=_text(involved.get("name")),
            uid=_text(involved.get("uid")),
        ),
        first_timestamp=_text(event.get("firstTimestamp")),
        last_timestamp=_text(event.get("lastTimestamp")),
        timestamp=format_rfc3339(moment),
        count=count if isinstance(count, int) and not isinstance(count, bool) else None,
        source=EventSource(component=component, host=host) if component or host else None,
    )


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
