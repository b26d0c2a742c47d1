"""Garbage collection: background, foreground and orphan deletion, for built-in and custom resources."""

from __future__ import annotations

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.controllers.garbage import GarbageCollector
from pilothouse.sim.objects import FOREGROUND, DeleteOptions
from pilothouse.sim.resources import ResourceType
from pilothouse.sim.store import JsonObject
from tests.sim.controllers.simkit import get, make_cluster, pod

WIDGETS = ResourceType("example.com", "v1", "Widget", "widgets", True, custom=True)


def owner_ref(owner: JsonObject, *, block: bool = True, controller: bool = True) -> JsonObject:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": controller,
        "blockOwnerDeletion": block,
    }


def configmap(name: str, *owners: JsonObject) -> JsonObject:
    meta: JsonObject = {"name": name, "namespace": "default"}
    if owners:
        meta["ownerReferences"] = [owner_ref(o, controller=i == 0) for i, o in enumerate(owners)]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {}}


def delete(cluster: SimCluster, kind: str, name: str, policy: str | None = None, group: str = "") -> None:
    cluster.objects.delete(
        cluster.resource(group, kind), "default", name, DeleteOptions(propagation_policy=policy)
    )
    cluster.engine.drain()


def exists(cluster: SimCluster, kind: str, name: str, group: str = "") -> bool:
    return cluster.get(group, kind, "default", name) is not None


def test_background_deletion_removes_dependents_whose_owners_are_all_gone() -> None:
    cluster = make_cluster(GarbageCollector)
    [owner, other] = cluster.apply(configmap("owner"), configmap("other"))
    cluster.apply(configmap("child", owner), configmap("shared", owner, other), configmap("free"))

    delete(cluster, "ConfigMap", "owner")

    assert not exists(cluster, "ConfigMap", "child")
    assert exists(cluster, "ConfigMap", "free")
    shared = get(cluster, "ConfigMap", "default", "shared")
    assert [ref["name"] for ref in shared["metadata"]["ownerReferences"]] == ["other"]


def test_dependent_of_an_owner_that_never_existed_is_collected() -> None:
    cluster = make_cluster(GarbageCollector)
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ghost", "uid": "not-a-real-uid"}}

    cluster.apply(configmap("orphaned", ghost))

    assert not exists(cluster, "ConfigMap", "orphaned")


def test_owner_recreated_under_the_same_name_does_not_adopt_old_dependents() -> None:
    cluster = make_cluster(GarbageCollector)
    [owner] = cluster.apply(configmap("owner"))
    cluster.apply(configmap("child", owner))
    delete(cluster, "ConfigMap", "owner")
    cluster.apply(configmap("owner"))

    assert not exists(cluster, "ConfigMap", "child")


def test_foreground_deletion_waits_for_blocking_dependents_to_be_gone() -> None:
    cluster = make_cluster(GarbageCollector)
    [owner] = cluster.apply(configmap("owner"))
    running = pod("web-1")
    running["metadata"]["ownerReferences"] = [owner_ref(owner)]
    running["spec"]["nodeName"] = "node-1"  # a bound pod terminates gracefully, through its kubelet
    cluster.apply(running, configmap("child", owner))

    delete(cluster, "ConfigMap", "owner", "Foreground")

    waiting = get(cluster, "ConfigMap", "default", "owner")
    assert waiting["metadata"]["deletionTimestamp"]
    assert waiting["metadata"]["finalizers"] == [FOREGROUND]
    assert not exists(cluster, "ConfigMap", "child")
    terminating = get(cluster, "Pod", "default", "web-1")
    assert terminating["metadata"]["deletionTimestamp"]

    cluster.objects.finish_deletion(cluster.resource("", "Pod"), terminating)  # what the kubelet does
    cluster.engine.drain()

    assert not exists(cluster, "ConfigMap", "owner")


def test_foreground_owner_without_blocking_dependents_goes_at_once() -> None:
    cluster = make_cluster(GarbageCollector)
    [owner] = cluster.apply(configmap("owner"))
    loose = configmap("loose")
    loose["metadata"]["ownerReferences"] = [owner_ref(owner, block=False)]
    cluster.apply(loose)

    delete(cluster, "ConfigMap", "owner", "Foreground")

    assert not exists(cluster, "ConfigMap", "owner")
    assert not exists(cluster, "ConfigMap", "loose")


def test_orphan_deletion_strips_references_and_keeps_dependents() -> None:
    cluster = make_cluster(GarbageCollector)
    [owner] = cluster.apply(configmap("owner"))
    cluster.apply(configmap("child", owner))

    delete(cluster, "ConfigMap", "owner", "Orphan")

    assert not exists(cluster, "ConfigMap", "owner")
    assert "ownerReferences" not in get(cluster, "ConfigMap", "default", "child")["metadata"]


def test_custom_resources_own_and_are_owned() -> None:
    cluster = make_cluster(GarbageCollector)
    cluster.registry.add(WIDGETS)
    [holder] = cluster.apply(configmap("holder"))
    widget = cluster.objects.create(
        WIDGETS,
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": "default", "ownerReferences": [owner_ref(holder)]},
            "spec": {},
        },
        namespace="default",
    )
    cluster.apply(configmap("made-by-widget", widget))

    delete(cluster, "ConfigMap", "holder")

    assert cluster.store.get(WIDGETS.storage_key, "default", "w") is None
    assert not exists(cluster, "ConfigMap", "made-by-widget")
