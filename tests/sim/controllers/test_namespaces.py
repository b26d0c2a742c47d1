"""Namespace termination: content deleted, progress conditions, finalizer removed, namespace gone."""

from __future__ import annotations

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.controllers.base import condition
from pilothouse.sim.controllers.namespaces import NamespaceController
from pilothouse.sim.objects import DeleteOptions
from pilothouse.sim.store import JsonObject
from tests.sim.controllers.simkit import get, make_cluster, pod

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}


def delete_namespace(cluster: SimCluster) -> None:
    cluster.objects.delete(cluster.resource("", "Namespace"), "", "shop", DeleteOptions())
    cluster.engine.drain()


def namespace(cluster: SimCluster) -> JsonObject | None:
    return cluster.get("", "Namespace", "", "shop")


def test_empty_namespace_is_finalized_and_removed() -> None:
    cluster = make_cluster(NamespaceController)
    cluster.apply(NAMESPACE)

    delete_namespace(cluster)

    assert namespace(cluster) is None


def test_terminating_namespace_waits_for_pods_and_reports_what_remains() -> None:
    cluster = make_cluster(NamespaceController)
    running = pod("web-1", "shop")
    running["spec"]["nodeName"] = "node-1"
    cluster.apply(
        NAMESPACE,
        running,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop"}},
    )

    delete_namespace(cluster)

    terminating = namespace(cluster)
    assert terminating is not None
    assert terminating["status"]["phase"] == "Terminating"
    assert terminating["spec"]["finalizers"] == ["kubernetes"]
    assert cluster.get("", "ConfigMap", "shop", "settings") is None
    web = get(cluster, "Pod", "shop", "web-1")
    assert web["metadata"]["deletionTimestamp"]
    remaining = condition(terminating, "NamespaceContentRemaining")
    assert remaining is not None
    assert (remaining["status"], remaining["reason"], remaining["message"]) == (
        "True",
        "SomeResourcesRemain",
        "Some resources are remaining: pods. has 1 resource instances",
    )
    failure = condition(terminating, "NamespaceDeletionContentFailure")
    assert failure is not None
    assert (failure["status"], failure["reason"]) == ("False", "ContentDeleted")
    assert [c["type"] for c in terminating["status"]["conditions"]] == [
        "NamespaceDeletionDiscoveryFailure",
        "NamespaceDeletionGroupVersionParsingFailure",
        "NamespaceDeletionContentFailure",
        "NamespaceContentRemaining",
        "NamespaceFinalizersRemaining",
    ]

    cluster.objects.finish_deletion(cluster.resource("", "Pod"), web)  # the kubelet's final delete
    cluster.engine.drain()

    assert namespace(cluster) is None


def test_content_finalizers_hold_the_namespace_and_are_reported() -> None:
    cluster = make_cluster(NamespaceController)
    cluster.apply(
        NAMESPACE,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "held", "namespace": "shop", "finalizers": ["example.com/keep"]},
        },
    )

    delete_namespace(cluster)

    terminating = namespace(cluster)
    assert terminating is not None
    finalizers = condition(terminating, "NamespaceFinalizersRemaining")
    assert finalizers is not None
    assert (finalizers["status"], finalizers["reason"], finalizers["message"]) == (
        "True",
        "SomeFinalizersRemain",
        "Some content in the namespace has finalizers remaining: example.com/keep in 1 resource instances",
    )

    held = get(cluster, "ConfigMap", "shop", "held")
    cluster.objects.remove_finalizer(cluster.resource("", "ConfigMap"), held, "example.com/keep")
    cluster.engine.drain()

    assert namespace(cluster) is None


def test_namespace_with_other_spec_finalizers_stays_after_its_content_is_gone() -> None:
    cluster = make_cluster(NamespaceController)
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "shop"},
            "spec": {"finalizers": ["kubernetes", "example.com/cleanup"]},
        }
    )

    delete_namespace(cluster)

    terminating = namespace(cluster)
    assert terminating is not None
    assert terminating["spec"]["finalizers"] == ["example.com/cleanup"]
    content = condition(terminating, "NamespaceContentRemaining")
    assert content is not None
    assert (content["status"], content["reason"]) == ("False", "ContentRemoved")


def test_active_namespaces_are_not_touched() -> None:
    cluster = make_cluster(NamespaceController)
    [created] = cluster.apply(NAMESPACE)

    cluster.advance(60)

    assert (
        get(cluster, "Namespace", "", "shop")["metadata"]["resourceVersion"]
        == created["metadata"]["resourceVersion"]
    )
