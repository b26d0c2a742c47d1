"""Views that share storage: events.k8s.io/v1 Events are core/v1 Events seen another way."""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]

_RENAMES = (  # (core/v1 field, events.k8s.io/v1 field)
    ("involvedObject", "regarding"),
    ("related", "related"),
    ("message", "note"),
    ("reason", "reason"),
    ("type", "type"),
    ("action", "action"),
    ("reportingInstance", "reportingInstance"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("source", "deprecatedSource"),
)


def core_event_to_events_v1(event: JsonObject) -> JsonObject:
    converted: JsonObject = {"kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": event["metadata"]}
    for core_field, new_field in _RENAMES:
        if core_field in event:
            converted[new_field] = event[core_field]
    converted["eventTime"] = event.get("eventTime") or None
    source = event.get("source") or {}
    converted["reportingController"] = event.get("reportingComponent") or source.get("component", "")
    if event.get("series"):
        converted["series"] = event["series"]
    return converted


def events_v1_to_core_event(event: JsonObject) -> JsonObject:
    converted: JsonObject = {"kind": "Event", "apiVersion": "v1", "metadata": event.get("metadata", {})}
    for core_field, new_field in _RENAMES:
        if new_field in event:
            converted[core_field] = event[new_field]
    if event.get("eventTime"):
        converted["eventTime"] = event["eventTime"]
    if event.get("reportingController"):
        converted["reportingComponent"] = event["reportingController"]
    if event.get("series"):
        converted["series"] = event["series"]
    return converted


def to_view(group: str, kind: str, stored: JsonObject) -> JsonObject:
    if group == "events.k8s.io" and kind == "Event":
        return core_event_to_events_v1(stored)
    return stored


def from_view(group: str, kind: str, body: Any) -> Any:
    if group == "events.k8s.io" and kind == "Event" and isinstance(body, dict):
        return events_v1_to_core_event(body)
    return body
