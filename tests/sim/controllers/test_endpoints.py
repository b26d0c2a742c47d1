"""Endpoints and EndpointSlices built from the pods a service selects."""

from __future__ import annotations

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.controllers.endpoints import (
    MANAGED_BY,
    SERVICE_NAME,
    TRIGGER_TIME,
    EndpointsController,
    EndpointSliceController,
    find_port,
)
from pilothouse.sim.controllers.garbage import GarbageCollector
from pilothouse.sim.objects import DeleteOptions
from pilothouse.sim.store import JsonObject, clone
from tests.sim.controllers.simkit import get, make_cluster, pod, run_pod

SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
}


def cluster_with_pods() -> SimCluster:
    cluster = make_cluster(EndpointsController, EndpointSliceController, GarbageCollector)
    cluster.apply(SERVICE, pod("ready"), pod("unready"), pod("no-ip"), pod("other", labels={"app": "db"}))
    run_pod(cluster, "default", "ready", ip="10.244.1.5")
    run_pod(cluster, "default", "unready", ip="10.244.1.6", ready=False)
    run_pod(cluster, "default", "no-ip", ip=None)
    run_pod(cluster, "default", "other", ip="10.244.1.7")
    return cluster


def slices(cluster: SimCluster) -> list[JsonObject]:
    return cluster.objects_of("discovery.k8s.io", "EndpointSlice", "default")


def test_endpoints_list_ready_and_unready_addresses_with_the_named_port_resolved() -> None:
    cluster = cluster_with_pods()

    endpoints = get(cluster, "Endpoints", "default", "web")

    ready_uid = get(cluster, "Pod", "default", "ready")["metadata"]["uid"]
    assert endpoints["subsets"] == [
        {
            "addresses": [
                {
                    "ip": "10.244.1.5",
                    "nodeName": "node-1",
                    "targetRef": {"kind": "Pod", "namespace": "default", "name": "ready", "uid": ready_uid},
                }
            ],
            "notReadyAddresses": [
                {
                    "ip": "10.244.1.6",
                    "nodeName": "node-1",
                    "targetRef": {
                        "kind": "Pod",
                        "namespace": "default",
                        "name": "unready",
                        "uid": get(cluster, "Pod", "default", "unready")["metadata"]["uid"],
                    },
                }
            ],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        }
    ]
    assert TRIGGER_TIME in endpoints["metadata"]["annotations"]
    assert endpoints["metadata"]["labels"]["endpointslice.kubernetes.io/skip-mirror"] == "true"


def test_slices_carry_conditions_labels_and_owner() -> None:
    cluster = cluster_with_pods()

    [endpoint_slice] = slices(cluster)

    assert endpoint_slice["metadata"]["name"].startswith("web-")
    assert len(endpoint_slice["metadata"]["name"]) == len("web-") + 5
    assert endpoint_slice["metadata"]["labels"][SERVICE_NAME] == "web"
    assert endpoint_slice["metadata"]["labels"][MANAGED_BY] == "endpointslice-controller.k8s.io"
    assert endpoint_slice["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert endpoint_slice["addressType"] == "IPv4"
    assert endpoint_slice["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert [(e["addresses"], e["conditions"]) for e in endpoint_slice["endpoints"]] == [
        (["10.244.1.5"], {"ready": True, "serving": True, "terminating": False}),
        (["10.244.1.6"], {"ready": False, "serving": False, "terminating": False}),
    ]


def test_terminating_pods_leave_endpoints_but_stay_in_slices_as_terminating() -> None:
    cluster = cluster_with_pods()

    cluster.objects.delete(cluster.resource("", "Pod"), "default", "ready", DeleteOptions())
    cluster.engine.drain()

    assert "addresses" not in get(cluster, "Endpoints", "default", "web")["subsets"][0]
    [endpoint_slice] = slices(cluster)
    assert endpoint_slice["endpoints"][0]["conditions"] == {
        "ready": False,
        "serving": True,
        "terminating": True,
    }


def test_nothing_is_rewritten_when_the_result_is_unchanged() -> None:
    cluster = cluster_with_pods()
    before = get(cluster, "Endpoints", "default", "web")["metadata"]["resourceVersion"]
    [slice_before] = slices(cluster)

    relabelled = clone(get(cluster, "Pod", "default", "ready"))
    relabelled["metadata"]["annotations"] = {"note": "unrelated"}
    cluster.objects.save(cluster.resource("", "Pod"), relabelled)
    cluster.engine.drain()

    assert get(cluster, "Endpoints", "default", "web")["metadata"]["resourceVersion"] == before
    assert slices(cluster)[0]["metadata"]["resourceVersion"] == slice_before["metadata"]["resourceVersion"]


def test_pod_leaving_the_selector_leaves_the_endpoints() -> None:
    cluster = cluster_with_pods()

    moved = clone(get(cluster, "Pod", "default", "ready"))
    moved["metadata"]["labels"] = {"app": "elsewhere"}
    cluster.objects.save(cluster.resource("", "Pod"), moved)
    cluster.engine.drain()

    assert "addresses" not in get(cluster, "Endpoints", "default", "web")["subsets"][0]


def test_service_without_selector_keeps_its_user_managed_endpoints() -> None:
    cluster = make_cluster(EndpointsController, EndpointSliceController)
    manual = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "external", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 5432}]}],
    }
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "external", "namespace": "default"},
            "spec": {"ports": [{"port": 5432}]},
        },
        manual,
    )

    assert get(cluster, "Endpoints", "default", "external")["subsets"] == manual["subsets"]
    assert slices(cluster) == []


def test_service_with_no_pods_has_empty_endpoints_and_a_placeholder_slice() -> None:
    cluster = make_cluster(EndpointsController, EndpointSliceController)
    cluster.apply(SERVICE)

    assert "subsets" not in get(cluster, "Endpoints", "default", "web")
    [placeholder] = slices(cluster)
    assert placeholder["endpoints"] is None


def test_deleting_the_service_removes_its_endpoints_and_slices() -> None:
    cluster = cluster_with_pods()

    cluster.objects.delete(cluster.resource("", "Service"), "default", "web", DeleteOptions())
    cluster.engine.drain()

    assert cluster.get("", "Endpoints", "default", "web") is None
    assert slices(cluster) == []


def test_find_port_resolves_numbers_and_names_by_protocol() -> None:
    target = pod("p")
    assert find_port(target, {"port": 80, "targetPort": 9090}) == 9090
    assert find_port(target, {"port": 80, "targetPort": "http", "protocol": "TCP"}) == 8080
    assert find_port(target, {"port": 80, "targetPort": "http", "protocol": "UDP"}) is None
    assert find_port(target, {"port": 80, "targetPort": "metrics"}) is None


def test_unnamed_ports_have_no_name_in_endpoints_and_an_empty_one_in_slices() -> None:
    cluster = make_cluster(EndpointsController, EndpointSliceController)
    unnamed = clone(SERVICE)
    unnamed["spec"]["ports"] = [{"port": 80, "targetPort": 8080}]
    cluster.apply(unnamed, pod("ready"))
    run_pod(cluster, "default", "ready", ip="10.244.1.5")

    assert get(cluster, "Endpoints", "default", "web")["subsets"][0]["ports"] == [
        {"port": 8080, "protocol": "TCP"}
    ]
    assert slices(cluster)[0]["ports"] == [{"name": "", "port": 8080, "protocol": "TCP"}]
