"""API shapes of ``GET /api/v1/events``: core/v1 Events in snake_case."""

from __future__ import annotations

from pydantic import BaseModel, Field


class InvolvedObject(BaseModel):
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None


class EventSource(BaseModel):
    component: str | None = None
    host: str | None = None


class EventItem(BaseModel):
    namespace: str = Field(description="The Event object's namespace")
    name: str = Field(description="The Event object's name")
    type: str | None = Field(default=None, examples=["Warning"])
    reason: str | None = Field(default=None, examples=["BackOff"])
    message: str | None = None
    involved_object: InvolvedObject
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    timestamp: str = Field(
        description="When the event last happened (RFC 3339): lastTimestamp, else series.lastObservedTime, "
        "else eventTime, else firstTimestamp, else the object's creationTimestamp"
    )
    count: int | None = None
    source: EventSource | None = None


class EventList(BaseModel):
    total_count: int = Field(description="Events matching every filter, before the limit")
    items: list[EventItem]
