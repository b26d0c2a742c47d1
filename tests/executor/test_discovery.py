"""Discovery: parsing kubectl's listing, failing closed, sharing refreshes, reporting changes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from pilothouse.executor.discovery import (
    DISCOVERY_ARGS,
    DiscoveryError,
    ResourceDiscovery,
    discover_with_kubectl,
    maintain_discovery,
    parse_api_resources,
)
from pilothouse.executor.runner import ProcessOutcome
from tests.executor.fakes import CannedKubectl, ScriptedFetch, outcome

# The shape `kubectl api-resources -o json` prints (trimmed from a run against the simulator).
LISTING: dict[str, Any] = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "",
    "resources": [
        {"name": "namespaces", "singularName": "namespace", "namespaced": False, "version": "v1",
         "kind": "Namespace", "verbs": ["get", "list"], "shortNames": ["ns"]},
        {"name": "pods", "singularName": "pod", "namespaced": True, "version": "v1", "kind": "Pod",
         "verbs": ["get", "list", "watch"], "shortNames": ["po"], "categories": ["all"]},
        {"name": "secrets", "singularName": "secret", "namespaced": True, "version": "v1",
         "kind": "Secret", "verbs": ["get", "list"]},
        {"name": "horizontalpodautoscalers", "singularName": "horizontalpodautoscaler",
         "namespaced": True, "group": "autoscaling", "version": "v2", "kind": "HorizontalPodAutoscaler",
         "verbs": ["get"], "shortNames": ["hpa"], "categories": ["all"]},
        {"name": "pods", "singularName": "podmetrics", "namespaced": True, "group": "metrics.k8s.io",
         "version": "v1beta1", "kind": "PodMetrics", "verbs": ["get", "list"]},
    ],
}  # fmt: skip


def listing(*extra: dict[str, Any], drop: Sequence[str] = ()) -> bytes:
    resources = [entry for entry in LISTING["resources"] if entry["name"] not in drop] + list(extra)
    return orjson.dumps({**LISTING, "resources": resources})


# --- parsing ------------------------------------------------------------------------------------


def test_the_listing_becomes_resource_refs_and_the_server_payload() -> None:
    resources = parse_api_resources(listing())
    by_name = {(item.ref.group, item.ref.plural): item for item in resources}
    pods = by_name[("", "pods")]
    assert pods.ref.short_names == ("po",)
    assert pods.ref.categories == ("all",)
    assert pods.ref.namespaced
    assert not by_name[("", "namespaces")].ref.namespaced
    hpa = by_name[("autoscaling", "horizontalpodautoscalers")].ref
    # Only the preferred version is listed; any version must still resolve (hpa.v1.autoscaling).
    assert hpa.versions == ()
    assert by_name[("metrics.k8s.io", "pods")].ref.kind == "PodMetrics"
    assert pods.payload() == {
        "plural": "pods",
        "singular": "pod",
        "kind": "Pod",
        "short_names": ["po"],
        "group": "",
        "namespaced": True,
        "categories": ["all"],
        "verbs": ["get", "list", "watch"],
    }


async def test_the_catalog_built_from_it_prefers_the_core_group() -> None:
    discovery = ResourceDiscovery(ScriptedFetch(parse_api_resources(listing())))
    await discovery.refresh()
    assert discovery.catalog is not None
    assert discovery.catalog.resolve("pods") == next(
        item.ref for item in discovery.resources if item.ref.plural == "pods" and not item.ref.group
    )
    resolved = discovery.catalog.resolve("hpa.v1.autoscaling")
    assert resolved is not None
    assert resolved.kind == "HorizontalPodAutoscaler"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"not json", "did not print JSON"),
        (b'{"kind": "APIResourceList"}', 'no "resources" list'),
        (b'{"resources": [{"kind": "Pod"}]}', "malformed api-resources entry"),
    ],
)
def test_unreadable_listings_are_errors(text: bytes, message: str) -> None:
    with pytest.raises(DiscoveryError, match=message):
        parse_api_resources(text)


def test_a_listing_without_the_core_secrets_cannot_be_trusted() -> None:
    # A CRD named "secrets" could otherwise take the name and slip past the Secret check.
    crd = {"name": "secrets", "singularName": "secret", "namespaced": True, "group": "evil.example.com",
           "version": "v1", "kind": "Secret", "verbs": ["get"]}  # fmt: skip
    with pytest.raises(DiscoveryError, match="lacks core resources \\(secrets\\)"):
        parse_api_resources(listing(crd, drop=["secrets"]))


# --- running kubectl ----------------------------------------------------------------------------


async def test_discovery_runs_kubectl_api_resources_as_json() -> None:
    kubectl = CannedKubectl(outcome(listing()))
    resources = await discover_with_kubectl(kubectl)
    assert kubectl.calls == [DISCOVERY_ARGS]
    assert len(resources) == len(LISTING["resources"])


async def test_partial_discovery_with_the_core_group_is_accepted() -> None:
    stderr = b"unable to retrieve the complete list of server APIs: metrics.k8s.io/v1beta1: 503"
    resources = await discover_with_kubectl(CannedKubectl(outcome(listing(), exit_code=1, stderr=stderr)))
    assert {item.ref.plural for item in resources} >= {"pods", "secrets"}


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (
            outcome(exit_code=1, stderr=b"The connection to the server was refused"),
            "connection to the server",
        ),
        (outcome(timed_out=True, exit_code=None), "timed out"),
        (outcome(listing(drop=["pods"]), exit_code=1, stderr=b"partial"), "lacks core resources"),
    ],
)
async def test_failed_discovery_is_an_error(result: ProcessOutcome, message: str) -> None:
    with pytest.raises(DiscoveryError, match=message):
        await discover_with_kubectl(CannedKubectl(result))


# --- refreshing ---------------------------------------------------------------------------------


BASIC = parse_api_resources(listing())
WITH_WIDGETS = parse_api_resources(
    listing(
        {
            "name": "widgets",
            "singularName": "widget",
            "namespaced": True,
            "group": "example.com",
            "version": "v1",
            "kind": "Widget",
            "verbs": ["get"],
            "shortNames": ["wd"],
        }
    )
)


async def test_no_catalog_until_a_discovery_succeeds() -> None:
    fetch = ScriptedFetch(DiscoveryError("connection refused"), BASIC)
    discovery = ResourceDiscovery(fetch)
    await discovery.refresh()
    assert (discovery.catalog, discovery.last_error) == (None, "connection refused")
    await discovery.refresh()
    assert discovery.catalog is not None
    assert discovery.last_error is None


async def test_a_failed_refresh_keeps_the_last_good_catalog() -> None:
    discovery = ResourceDiscovery(ScriptedFetch(BASIC, RuntimeError("boom")))
    await discovery.refresh()
    catalog = discovery.catalog
    await discovery.refresh()
    assert discovery.catalog is catalog
    assert discovery.last_error == "boom"


async def test_the_generation_changes_only_when_the_resources_do() -> None:
    discovery = ResourceDiscovery(ScriptedFetch(BASIC, BASIC, WITH_WIDGETS))
    await discovery.refresh()
    await discovery.refresh()
    assert discovery.generation == 1
    await discovery.refresh()
    assert discovery.generation == 2
    assert discovery.catalog is not None
    assert discovery.catalog.resolve("wd") is not None


async def test_concurrent_refreshes_share_one_run() -> None:
    fetch = ScriptedFetch(BASIC, delay=0.1)
    discovery = ResourceDiscovery(fetch)
    await asyncio.gather(*(discovery.refresh() for _ in range(5)))
    assert fetch.calls == 1


async def test_refresh_unless_recent_limits_the_rate() -> None:
    now = [100.0]
    fetch = ScriptedFetch(BASIC)
    discovery = ResourceDiscovery(fetch, clock=lambda: now[0])
    await discovery.refresh_unless_recent(10)
    await discovery.refresh_unless_recent(10)
    assert fetch.calls == 1
    now[0] += 11
    await discovery.refresh_unless_recent(10)
    assert fetch.calls == 2


async def test_refresh_after_needs_a_discovery_that_started_later() -> None:
    fetch = ScriptedFetch(BASIC, delay=0.2)
    discovery = ResourceDiscovery(fetch)
    in_progress = asyncio.create_task(discovery.refresh())
    await asyncio.sleep(0.05)
    assert discovery.attempts == 1
    # Arrived before the running discovery started (attempts was 0): joining it is enough.
    await discovery.refresh_after(0, min_interval=0)
    assert fetch.calls == 1
    await in_progress
    # Arrived after it started: only a new one can know what changed since.
    await discovery.refresh_after(1, min_interval=0)
    assert fetch.calls == 2


async def test_refresh_after_keeps_the_minimum_interval() -> None:
    discovery = ResourceDiscovery(ScriptedFetch(BASIC))
    await discovery.refresh()
    started = time.monotonic()
    await discovery.refresh_after(discovery.attempts, min_interval=0.3)
    assert time.monotonic() - started >= 0.25
    assert discovery.attempts == 2


async def test_maintain_reports_each_change_once_and_stops_when_unsupported() -> None:
    fetch = ScriptedFetch(BASIC, BASIC, WITH_WIDGETS)
    discovery = ResourceDiscovery(fetch)
    reports: list[int] = []
    supported = [True]

    async def report(resources: list[dict[str, Any]]) -> bool:
        reports.append(len(resources))
        return supported[0]

    keeper = asyncio.create_task(maintain_discovery(discovery, report, refresh_seconds=0.05))
    try:
        await _until(lambda: discovery.generation == 2 and len(reports) == 2)
        assert reports == [len(BASIC), len(WITH_WIDGETS)]
        supported[0] = False
        fetch.answers += [BASIC, WITH_WIDGETS] * 100  # from now on every refresh is a change
        await _until(lambda: len(reports) == 3)
        generation = discovery.generation
        await _until(lambda: discovery.generation >= generation + 2)
        assert len(reports) == 3
    finally:
        keeper.cancel()


async def test_maintain_retries_a_report_the_server_did_not_take() -> None:
    discovery = ResourceDiscovery(ScriptedFetch(BASIC))
    attempts: list[int] = []

    async def report(resources: list[dict[str, Any]]) -> bool:
        attempts.append(len(resources))
        if len(attempts) == 1:
            raise ConnectionError("server away")
        return True

    keeper = asyncio.create_task(
        maintain_discovery(discovery, report, refresh_seconds=60, retry_seconds=0.05)
    )
    try:
        await _until(lambda: len(attempts) == 2)
        await asyncio.sleep(0.2)
        assert len(attempts) == 2  # delivered once, not again without a change
    finally:
        keeper.cancel()


async def _until(condition: Any, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)
