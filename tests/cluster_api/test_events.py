"""GET /api/v1/events, service level: filters, time window, order and limit against a real cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pilothouse.errors import BadRequest
from pilothouse.events.service import (
    EventFilter,
    escape_field_value,
    event_time,
    list_events,
    parse_rfc3339,
    time_parameter,
)
from tests.cluster_api.views_fixtures import START, JsonObject, SimView, sim_view


@pytest.fixture
async def crashing(tmp_path: Path) -> AsyncIterator[SimView]:
    """healthy (shop) and crashloop-missing-env (payments: pods in CrashLoopBackOff), 3 minutes in."""
    async with sim_view(tmp_path, "healthy", "crashloop-missing-env", settle=180) as view:
        yield view


def _truth(view: SimView) -> list[JsonObject]:
    return view.objects("", "Event")


async def test_default_lists_the_last_hour_newest_first(crashing: SimView) -> None:
    result = await list_events(crashing.ops, crashing.resolver, EventFilter(limit=1000), now=crashing.now)
    assert result.total_count == len(_truth(crashing)) == len(result.items)
    stamps = [item.timestamp for item in result.items]
    assert stamps == sorted(stamps, reverse=True)
    assert {item.type for item in result.items} == {"Normal", "Warning"}
    backoff = next(item for item in result.items if item.reason == "BackOff")
    assert backoff.type == "Warning"
    assert backoff.involved_object.kind == "Pod"
    assert backoff.involved_object.namespace == "payments"
    assert backoff.involved_object.uid
    assert backoff.source is not None and backoff.source.component == "kubelet"
    assert backoff.source.host and backoff.source.host.startswith("node-")
    assert backoff.count is not None and backoff.count > 1
    assert backoff.last_timestamp == backoff.timestamp
    assert backoff.first_timestamp is not None and backoff.first_timestamp < backoff.last_timestamp
    assert backoff.namespace == "payments" and backoff.name.startswith(backoff.involved_object.name or "")


async def test_an_hour_later_the_default_window_is_empty(crashing: SimView) -> None:
    later = crashing.now + timedelta(hours=1, minutes=5)
    assert (await list_events(crashing.ops, crashing.resolver, EventFilter(), now=later)).total_count == 0


async def test_type_filter(crashing: SimView) -> None:
    truth = _truth(crashing)
    for event_type in ("Normal", "Warning"):
        result = await list_events(
            crashing.ops, crashing.resolver, EventFilter(event_type=event_type, limit=1000), now=crashing.now
        )
        assert result.total_count == sum(event["type"] == event_type for event in truth) > 0
        assert {item.type for item in result.items} == {event_type}
    # Error is a valid filter value that Kubernetes never writes.
    error = await list_events(
        crashing.ops, crashing.resolver, EventFilter(event_type="Error"), now=crashing.now
    )
    assert error.total_count == 0 and error.items == []


async def test_namespace_and_object_filters(crashing: SimView) -> None:
    truth = _truth(crashing)
    payments = await list_events(
        crashing.ops, crashing.resolver, EventFilter(namespace="payments", limit=1000), now=crashing.now
    )
    assert payments.total_count == sum(event["metadata"]["namespace"] == "payments" for event in truth)
    assert {item.namespace for item in payments.items} == {"payments"}

    deployments = await list_events(
        crashing.ops, crashing.resolver, EventFilter(resource_kind="Deployment", limit=1000), now=crashing.now
    )
    assert (
        deployments.total_count == sum(event["involvedObject"]["kind"] == "Deployment" for event in truth) > 0
    )
    assert {item.involved_object.kind for item in deployments.items} == {"Deployment"}
    assert {item.reason for item in deployments.items} == {"ScalingReplicaSet"}

    # The kind is matched as Kubernetes spells it, however the client spells it.
    for spelling in ("Pod", "pods", "pod", "po"):
        pods = await list_events(
            crashing.ops, crashing.resolver, EventFilter(resource_kind=spelling, limit=1000), now=crashing.now
        )
        assert pods.total_count == sum(event["involvedObject"]["kind"] == "Pod" for event in truth) > 0

    pod_name = next(e for e in truth if e["reason"] == "BackOff")["involvedObject"]["name"]
    one_pod = await list_events(
        crashing.ops,
        crashing.resolver,
        EventFilter(resource_kind="Pod", resource_name=pod_name, event_type="Warning", limit=1000),
        now=crashing.now,
    )
    expected = [e for e in truth if e["involvedObject"]["name"] == pod_name and e["type"] == "Warning"]
    assert one_pod.total_count == len(expected) > 0
    assert {item.involved_object.name for item in one_pod.items} == {pod_name}

    # A kind the cluster does not serve is taken as written (events outlive their CRDs).
    unknown = await list_events(
        crashing.ops, crashing.resolver, EventFilter(resource_kind="Widget"), now=crashing.now
    )
    assert unknown.total_count == 0


async def test_a_name_cannot_smuggle_in_another_selector(crashing: SimView) -> None:
    result = await list_events(
        crashing.ops, crashing.resolver, EventFilter(resource_name="x,type=Normal"), now=crashing.now
    )
    assert result.total_count == 0
    assert escape_field_value(r"a,b=c\d") == r"a\,b\=c\\d"


def _moment(text: str) -> datetime:
    parsed = parse_rfc3339(text)
    assert parsed is not None
    return parsed


async def test_time_window_sort_and_limit(crashing: SimView) -> None:
    everything = await list_events(
        crashing.ops, crashing.resolver, EventFilter(limit=1000, sort_order="asc"), now=crashing.now
    )
    stamps = [_moment(item.timestamp) for item in everything.items]
    assert stamps == sorted(stamps)
    middle = START + timedelta(seconds=60)
    since = await list_events(
        crashing.ops,
        crashing.resolver,
        EventFilter(since=middle, limit=1000, sort_order="asc"),
        now=crashing.now,
    )
    until = await list_events(
        crashing.ops, crashing.resolver, EventFilter(since=START, until=middle, limit=1000), now=crashing.now
    )
    after = sum(stamp >= middle for stamp in stamps)
    upto = sum(stamp <= middle for stamp in stamps)
    assert since.total_count == after > 0
    assert until.total_count == upto > 0
    # An event last seen exactly at `middle` is in both windows.
    assert since.total_count + until.total_count >= everything.total_count
    assert all(_moment(item.timestamp) >= middle for item in since.items)

    limited = await list_events(crashing.ops, crashing.resolver, EventFilter(limit=3), now=crashing.now)
    assert limited.total_count == everything.total_count > 3
    assert [item.name for item in limited.items] == [item.name for item in reversed(everything.items)][:3]


async def test_until_alone_looks_at_the_hour_before_it(crashing: SimView) -> None:
    later = crashing.now + timedelta(hours=5)
    until = START + timedelta(seconds=60)
    result = await list_events(
        crashing.ops, crashing.resolver, EventFilter(until=until, limit=1000), now=later
    )
    truth = [event_time(event) for event in _truth(crashing)]
    assert result.total_count == sum(moment is not None and moment <= until for moment in truth) > 0


async def test_since_after_until_is_a_bad_parameter(crashing: SimView) -> None:
    with pytest.raises(BadRequest) as raised:
        await list_events(
            crashing.ops, crashing.resolver, EventFilter(since=START, until=START - timedelta(seconds=1))
        )
    assert raised.value.error == "invalid_parameter"
    assert raised.value.details["parameter"] == "since_time"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-10T14:23:45Z", datetime(2026, 2, 10, 14, 23, 45, tzinfo=UTC)),
        ("2026-02-10t14:23:45z", datetime(2026, 2, 10, 14, 23, 45, tzinfo=UTC)),
        ("2026-02-10 14:23:45Z", datetime(2026, 2, 10, 14, 23, 45, tzinfo=UTC)),
        ("2026-02-10T14:23:45.5Z", datetime(2026, 2, 10, 14, 23, 45, 500000, tzinfo=UTC)),
        ("2026-02-10T14:23:45.123456789Z", datetime(2026, 2, 10, 14, 23, 45, 123456, tzinfo=UTC)),
        ("2026-02-10T16:23:45+02:00", datetime(2026, 2, 10, 14, 23, 45, tzinfo=UTC)),
        ("2026-02-10T12:23:45-02:00", datetime(2026, 2, 10, 14, 23, 45, tzinfo=UTC)),
        # "+" sent unencoded in a query string arrives as a space.
        ("2026-02-10T16:23:45 02:00", datetime(2026, 2, 10, 14, 23, 45, tzinfo=UTC)),
    ],
)
def test_parses_rfc3339(text: str, expected: datetime) -> None:
    assert parse_rfc3339(text) == expected
    assert time_parameter("since_time", text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "2026-02-10",
        "2026-02-10T14:23:45",  # no time zone
        "2026-02-10T14:23Z",
        "2026-13-10T14:23:45Z",
        "2026-02-30T14:23:45Z",
        "2026-02-10T25:00:00Z",
        "2026-02-10T14:23:45+25:00",
        "1707574425",
        "\uff12\uff10\uff12\uff16-02-10T14:23:45Z",  # fullwidth digits
        "2026-02-10T14:23:45Z; DROP TABLE",
    ],
)
def test_rejects_what_is_not_rfc3339(text: str) -> None:
    assert parse_rfc3339(text) is None
    with pytest.raises(BadRequest) as raised:
        time_parameter("until_time", text)
    assert raised.value.error == "invalid_parameter"
    assert raised.value.status_code == 400
    assert raised.value.details == {"parameter": "until_time", "value": text}


def test_empty_time_parameter_means_default() -> None:
    assert time_parameter("since_time", None) is None
    assert time_parameter("since_time", "") is None


def test_event_time_falls_back_in_order() -> None:
    full: JsonObject = {
        "lastTimestamp": "2026-02-10T10:00:04Z",
        "series": {"lastObservedTime": "2026-02-10T10:00:03.000000Z"},
        "eventTime": "2026-02-10T10:00:02.000000Z",
        "firstTimestamp": "2026-02-10T10:00:01Z",
        "metadata": {"creationTimestamp": "2026-02-10T10:00:00Z"},
    }
    expected_seconds = [4, 3, 2, 1, 0]
    for key, second in zip(
        ("lastTimestamp", "series", "eventTime", "firstTimestamp", "metadata"), expected_seconds, strict=True
    ):
        assert event_time(full) == datetime(2026, 2, 10, 10, 0, second, tzinfo=UTC)
        full[key] = None if key != "metadata" else {}
    assert event_time(full) is None
    # Null and empty timestamps (eventTime is null in core/v1 events) are skipped.
    assert event_time(
        {"lastTimestamp": "", "eventTime": None, "firstTimestamp": "2026-02-10T10:00:01Z"}
    ) == datetime(2026, 2, 10, 10, 0, 1, tzinfo=UTC)
