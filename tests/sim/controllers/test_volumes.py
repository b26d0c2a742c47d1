"""PersistentVolume binding, dynamic provisioning, default classes, protection and reclaim."""

from __future__ import annotations

from typing import Any

from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.controllers.volumes import (
    PVC_PROTECTION,
    DynamicProvisioner,
    PersistentVolumeController,
    claim_is_bound,
)
from pilothouse.sim.objects import DeleteOptions
from pilothouse.sim.store import JsonObject
from tests.sim.controllers.simkit import events, get, make_cluster, pod, run_pod

PROVISIONER = "rancher.io/local-path"


def storage_class(
    name: str, mode: str = "Immediate", default: bool = False, reclaim: str = "Delete"
) -> JsonObject:
    meta: JsonObject = {"name": name}
    if default:
        meta["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": meta,
        "provisioner": PROVISIONER,
        "volumeBindingMode": mode,
        "reclaimPolicy": reclaim,
    }


def claim(name: str = "data", size: str = "1Gi", **spec: Any) -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}, **spec},
    }


def volume(name: str, size: str, class_name: str = "") -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": class_name,
            "hostPath": {"path": f"/data/{name}"},
        },
    }


def volume_cluster() -> SimCluster:
    return make_cluster(PersistentVolumeController, DynamicProvisioner)


def reasons(cluster: SimCluster, obj: JsonObject) -> list[str]:
    return [reason for _, reason, _ in events(cluster, obj)]


def test_immediate_class_provisions_and_binds_both_ways() -> None:
    cluster = volume_cluster()
    cluster.apply(storage_class("standard"))
    [created] = cluster.apply(claim(storageClassName="standard"))

    bound = get(cluster, "PersistentVolumeClaim", "default", "data")
    name = f"pvc-{created['metadata']['uid']}"
    provisioned = get(cluster, "PersistentVolume", "", name)
    assert bound["spec"]["volumeName"] == name
    assert bound["status"] == {
        "phase": "Bound",
        "accessModes": ["ReadWriteOnce"],
        "capacity": {"storage": "1Gi"},
    }
    assert bound["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] == "yes"
    assert provisioned["status"]["phase"] == "Bound"
    assert provisioned["spec"]["claimRef"]["uid"] == created["metadata"]["uid"]
    assert provisioned["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert provisioned["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == PROVISIONER
    assert claim_is_bound(cluster.context, "default", "data")
    messages = {reason: message for _, reason, message in events(cluster, bound)}
    assert messages["ExternalProvisioning"] == (
        f"Waiting for a volume to be created either by the external provisioner '{PROVISIONER}' or manually "
        "by the system administrator. If volume creation is delayed, please verify that the provisioner is "
        "running and correctly registered."
    )
    assert messages["Provisioning"] == 'External provisioner is provisioning volume for claim "default/data"'
    assert messages["ProvisioningSucceeded"] == f"Successfully provisioned volume {name}"


def test_missing_class_fails_provisioning() -> None:
    cluster = volume_cluster()
    [created] = cluster.apply(claim(storageClassName="fast"))

    assert ("Warning", "ProvisioningFailed", 'storageclass.storage.k8s.io "fast" not found') in events(
        cluster, created
    )
    assert get(cluster, "PersistentVolumeClaim", "default", "data")["status"]["phase"] == "Pending"
    assert not claim_is_bound(cluster.context, "default", "data")


def test_claim_without_class_and_without_default_waits_for_a_volume() -> None:
    cluster = volume_cluster()
    [created] = cluster.apply(claim())

    assert (
        "Normal",
        "FailedBinding",
        "no persistent volumes available for this claim and no storage class is set",
    ) in events(cluster, created)
    assert "storageClassName" not in get(cluster, "PersistentVolumeClaim", "default", "data")["spec"]


def test_default_class_is_admitted_onto_claims_without_one_but_not_onto_explicit_empty() -> None:
    cluster = volume_cluster()
    cluster.apply(storage_class("standard", default=True))

    [defaulted, explicit] = cluster.apply(claim("a"), claim("b", storageClassName=""))

    assert defaulted["spec"]["storageClassName"] == "standard"
    assert defaulted["metadata"]["finalizers"] == [PVC_PROTECTION]
    assert explicit["spec"]["storageClassName"] == ""
    assert claim_is_bound(cluster.context, "default", "a")
    assert not claim_is_bound(cluster.context, "default", "b")


def test_default_class_created_later_is_assigned_retroactively() -> None:
    cluster = volume_cluster()
    cluster.apply(claim())

    cluster.apply(storage_class("standard", default=True))

    assert get(cluster, "PersistentVolumeClaim", "default", "data")["spec"]["storageClassName"] == "standard"
    assert claim_is_bound(cluster.context, "default", "data")


def test_wait_for_first_consumer_provisions_on_the_consumers_node() -> None:
    cluster = volume_cluster()
    cluster.apply(storage_class("local", mode="WaitForFirstConsumer"))
    [created] = cluster.apply(claim(storageClassName="local"))

    assert (
        "Normal",
        "WaitForFirstConsumer",
        "waiting for first consumer to be created before binding",
    ) in events(cluster, created)
    assert cluster.objects_of("", "PersistentVolume") == []

    consumer = pod("db-0", volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}])
    cluster.apply(consumer)
    assert cluster.objects_of("", "PersistentVolume") == []  # not scheduled yet
    run_pod(cluster, "default", "db-0", ip="10.244.2.3", node_name="node-2")

    [provisioned] = cluster.objects_of("", "PersistentVolume")
    terms = provisioned["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == ["node-2"]
    bound = get(cluster, "PersistentVolumeClaim", "default", "data")
    assert bound["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == "node-2"
    assert bound["status"]["phase"] == "Bound"


def test_smallest_matching_precreated_volume_is_bound() -> None:
    cluster = volume_cluster()
    cluster.apply(
        volume("small", "500Mi"),
        volume("big", "10Gi"),
        volume("right", "2Gi"),
        volume("other-class", "1Gi", class_name="fast"),
    )

    cluster.apply(claim(storageClassName=""))

    assert get(cluster, "PersistentVolumeClaim", "default", "data")["spec"]["volumeName"] == "right"
    right = get(cluster, "PersistentVolume", "", "right")
    assert right["status"]["phase"] == "Bound"
    assert right["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] == "yes"
    assert get(cluster, "PersistentVolume", "", "big")["status"]["phase"] == "Available"
    assert get(cluster, "PersistentVolumeClaim", "default", "data")["status"]["capacity"] == {
        "storage": "2Gi"
    }


def test_claim_in_use_stays_terminating_until_its_pod_is_gone() -> None:
    cluster = volume_cluster()
    cluster.apply(
        storage_class("standard"),
        claim(storageClassName="standard"),
        pod("db-0", volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]),
    )

    cluster.objects.delete(cluster.resource("", "PersistentVolumeClaim"), "default", "data", DeleteOptions())
    cluster.engine.drain()
    assert get(cluster, "PersistentVolumeClaim", "default", "data")["metadata"]["deletionTimestamp"]

    cluster.objects.delete(cluster.resource("", "Pod"), "default", "db-0", DeleteOptions())
    cluster.engine.drain()
    assert cluster.get("", "PersistentVolumeClaim", "default", "data") is None
    assert cluster.objects_of("", "PersistentVolume") == []  # reclaim policy Delete


def test_retained_volume_is_released_when_its_claim_goes() -> None:
    cluster = volume_cluster()
    cluster.apply(storage_class("keep", reclaim="Retain"), claim(storageClassName="keep"))

    cluster.objects.delete(cluster.resource("", "PersistentVolumeClaim"), "default", "data", DeleteOptions())
    cluster.engine.drain()

    [released] = cluster.objects_of("", "PersistentVolume")
    assert released["status"]["phase"] == "Released"
    assert released["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]


def test_claim_whose_volume_disappears_is_lost() -> None:
    cluster = volume_cluster()
    cluster.apply(volume("manual", "1Gi"), claim(storageClassName=""))
    manual = get(cluster, "PersistentVolume", "", "manual")
    cluster.objects.finish_deletion(cluster.resource("", "PersistentVolume"), manual)
    cluster.engine.drain()

    lost = get(cluster, "PersistentVolumeClaim", "default", "data")
    assert lost["status"]["phase"] == "Lost"
    assert "ClaimLost" in reasons(cluster, lost)
