"""The object store's versioning and watch history, and the engine's ordering in virtual time."""

from __future__ import annotations

import pytest

from pilothouse.sim.engine import Engine, SimClock
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import ADDED, DELETED, MODIFIED, ObjectStore

PODS = ("", "pods")


def pod(name: str, namespace: str = "default", **extra: object) -> dict[str, object]:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": namespace}, **extra}


def test_create_update_delete_bump_resource_version() -> None:
    store = ObjectStore()
    created = store.create(PODS, pod("a"))
    updated = store.update(PODS, {**created, "spec": {"x": 1}}, created["metadata"]["resourceVersion"])
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    deleted = store.delete(PODS, "default", "a")
    assert int(deleted["metadata"]["resourceVersion"]) > int(updated["metadata"]["resourceVersion"])
    assert store.get(PODS, "default", "a") is None


def test_stale_update_is_a_conflict_and_changes_nothing() -> None:
    store = ObjectStore()
    created = store.create(PODS, pod("a"))
    store.update(PODS, {**created, "spec": {"x": 1}})
    with pytest.raises(StatusError) as raised:
        store.update(PODS, {**created, "spec": {"x": 2}}, created["metadata"]["resourceVersion"])
    assert raised.value.code == 409
    assert store.get(PODS, "default", "a")["spec"] == {"x": 1}  # type: ignore[index]


def test_duplicate_create_is_already_exists() -> None:
    store = ObjectStore()
    store.create(PODS, pod("a"))
    with pytest.raises(StatusError) as raised:
        store.create(PODS, pod("a"))
    assert raised.value.reason == "AlreadyExists"


def test_list_is_sorted_by_namespace_then_name_and_filters_namespace() -> None:
    store = ObjectStore()
    for namespace, name in [("b", "z"), ("a", "y"), ("b", "a")]:
        store.create(PODS, pod(name, namespace))
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in store.list(PODS)] == [
        ("a", "y"),
        ("b", "a"),
        ("b", "z"),
    ]
    assert [o["metadata"]["name"] for o in store.list(PODS, "b")] == ["a", "z"]


def test_watch_replays_history_after_a_version() -> None:
    store = ObjectStore()
    first = store.create(PODS, pod("a"))
    store.create(PODS, pod("b"))
    store.delete(PODS, "default", "a")
    watcher = store.watch(PODS, None, int(first["metadata"]["resourceVersion"]))
    events = [watcher.queue.get_nowait() for _ in range(watcher.queue.qsize())]
    assert [(e.type, e.object["metadata"]["name"]) for e in events if e] == [(ADDED, "b"), (DELETED, "a")]


def test_watch_from_a_compacted_version_is_gone() -> None:
    store = ObjectStore(history_per_resource=2)
    first = store.create(PODS, pod("a"))
    for value in range(5):
        store.update(PODS, {**pod("a"), "spec": {"v": value}})
    with pytest.raises(StatusError) as raised:
        store.watch(PODS, None, int(first["metadata"]["resourceVersion"]))
    assert raised.value.code == 410


def test_slow_watcher_is_closed_not_blocking_writers() -> None:
    store = ObjectStore(watcher_capacity=3)
    watcher = store.watch(PODS, None, None)
    for index in range(10):
        store.create(PODS, pod(f"p{index}"))
    assert watcher.overflowed
    assert store.count(PODS) == 10


def test_listeners_see_previous_object_on_update() -> None:
    store = ObjectStore()
    seen: list[tuple[str, object]] = []
    store.add_listener(lambda key, event: seen.append((event.type, event.previous)))
    created = store.create(PODS, pod("a"))
    store.update(PODS, {**created, "spec": {}})
    assert seen[0] == (ADDED, None)
    assert seen[1][0] == MODIFIED
    assert seen[1][1] == created


def test_engine_fires_timers_in_due_order_at_their_own_time() -> None:
    clock = SimClock(manual=True, start=1000.0)
    engine = Engine(clock)
    fired: list[tuple[str, float]] = []
    engine.register("c", lambda key: fired.append((key, clock.now())))
    engine.call_at(1030.0, "c", "late")
    engine.call_at(1010.0, "c", "early")
    engine.advance(20)
    assert fired == [("early", 1010.0)]
    engine.advance(20)
    assert fired == [("early", 1010.0), ("late", 1030.0)]
    assert clock.now() == 1040.0


def test_engine_deduplicates_queued_keys_and_survives_a_failing_reconcile() -> None:
    engine = Engine(SimClock(manual=True, start=0.0))
    calls: list[str] = []

    def reconcile(key: str) -> None:
        calls.append(key)
        if key == "bad":
            raise RuntimeError("boom")

    engine.register("c", reconcile)
    for key in ("a", "bad", "a", "b"):
        engine.enqueue("c", key)
    engine.drain()
    assert calls == ["a", "bad", "b"]
    assert engine.errors == 1
