"""Default ServiceAccount and root CA ConfigMap per namespace; the ServiceAccount admission check."""

from __future__ import annotations

import pytest

from pilothouse.sim.controllers.serviceaccounts import (
    ROOT_CA_CONFIGMAP,
    ROOT_CA_PEM,
    ServiceAccountsController,
    admission_name,
)
from pilothouse.sim.objects import DeleteOptions
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import clone
from tests.sim.controllers.simkit import get, make_cluster, pod

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}


def test_every_namespace_gets_the_default_account_and_root_ca() -> None:
    cluster = make_cluster(ServiceAccountsController)
    cluster.apply(NAMESPACE)

    assert get(cluster, "ServiceAccount", "shop", "default")
    configmap = get(cluster, "ConfigMap", "shop", ROOT_CA_CONFIGMAP)
    assert configmap["data"] == {"ca.crt": ROOT_CA_PEM}
    assert ROOT_CA_PEM.startswith("-----BEGIN CERTIFICATE-----\n")
    assert {sa["metadata"]["namespace"] for sa in cluster.objects_of("", "ServiceAccount")} >= {
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "shop",
    }


def test_deleted_default_account_and_edited_root_ca_are_restored() -> None:
    cluster = make_cluster(ServiceAccountsController)
    cluster.apply(NAMESPACE)
    cluster.objects.delete(cluster.resource("", "ServiceAccount"), "shop", "default", DeleteOptions())
    edited = clone(get(cluster, "ConfigMap", "shop", ROOT_CA_CONFIGMAP))
    edited["data"] = {"ca.crt": "tampered"}
    cluster.objects.save(cluster.resource("", "ConfigMap"), edited)
    cluster.engine.drain()

    assert get(cluster, "ServiceAccount", "shop", "default")
    assert get(cluster, "ConfigMap", "shop", ROOT_CA_CONFIGMAP)["data"] == {"ca.crt": ROOT_CA_PEM}


def test_pod_naming_a_missing_account_is_forbidden_like_the_admission_plugin() -> None:
    cluster = make_cluster(ServiceAccountsController)
    cluster.apply(NAMESPACE)

    with pytest.raises(StatusError) as refused:
        cluster.apply(pod("web-1", "shop", serviceAccountName="robot"))

    assert refused.value.code == 403
    assert refused.value.reason == "Forbidden"
    assert refused.value.message == (
        'pods "web-1" is forbidden: error looking up service account shop/robot: '
        'serviceaccount "robot" not found'
    )
    assert refused.value.details == {"name": "web-1", "kind": "pods"}
    assert cluster.get("", "Pod", "shop", "web-1") is None


def test_generated_pod_names_are_reported_by_their_prefix() -> None:
    cluster = make_cluster(ServiceAccountsController)
    cluster.apply(NAMESPACE)
    manifest = pod("ignored", "shop", serviceAccountName="robot")
    manifest["metadata"] = {"generateName": "web-7d9f8-", "namespace": "shop"}

    with pytest.raises(
        StatusError, match=r'^pods "web-7d9f8-" is forbidden: error looking up service account'
    ):
        cluster.apply(manifest)


def test_admission_name_keeps_a_chosen_name_that_merely_shares_the_prefix() -> None:
    assert admission_name({"metadata": {"name": "web-bcdfg", "generateName": "web-"}}) == "web-"
    assert admission_name({"metadata": {"name": "web-main", "generateName": "web-"}}) == "web-main"
    assert admission_name({"metadata": {"name": "web-1"}}) == "web-1"


def test_existing_accounts_are_admitted() -> None:
    cluster = make_cluster(ServiceAccountsController)
    cluster.apply(
        NAMESPACE,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot", "namespace": "shop"}},
    )

    cluster.apply(pod("web-1", "shop", serviceAccountName="robot"), pod("web-2", "shop"))

    assert cluster.get("", "Pod", "shop", "web-1") is not None
    assert cluster.get("", "Pod", "shop", "web-2") is not None


def test_pods_created_with_their_namespace_are_not_checked_before_its_default_account_exists() -> None:
    cluster = make_cluster(ServiceAccountsController)

    cluster.apply(NAMESPACE, pod("early", "shop", serviceAccountName="robot"))

    assert cluster.get("", "Pod", "shop", "early") is not None
    assert get(cluster, "ServiceAccount", "shop", "default")
