"""``/api/v1/resources``: every operation through both transports, against the simulated cluster."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.cluster_api.conftest import READONLY_CLUSTER, ClusterApiStack


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def configmap(name: str, namespace: str = "default", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {"suite": "cluster-api"}},
        "data": data or {"key": "value"},
    }


def test_list_pods_pages_and_counts(api: httpx.Client, stack: ClusterApiStack) -> None:
    everything = api.get("/api/v1/resources/Pod", params={"limit": 500})
    assert everything.status_code == 200, everything.text
    body = everything.json()
    assert body["kind"] == "Pod"
    assert body["api_version"] == "v1"
    total = body["total_count"]
    assert total == len(body["items"]) > 2
    assert body["page"] == {"limit": 500, "offset": 0, "returned": total, "has_more": False}
    names = [item["metadata"]["name"] for item in body["items"]]
    assert names == sorted(names)
    assert all(
        item["metadata"]["creation_timestamp"] == item["metadata"]["creationTimestamp"]
        for item in body["items"]
    )

    first = api.get("/api/v1/resources/pods", params={"limit": 2, "offset": 1}).json()
    assert first["total_count"] == total
    assert [item["metadata"]["name"] for item in first["items"]] == names[1:3]
    assert first["page"]["has_more"] is (total > 3)

    descending = api.get("/api/v1/resources/po", params={"limit": 500, "sort_order": "desc"}).json()
    assert [item["metadata"]["name"] for item in descending["items"]] == names[::-1]


def test_kinds_resolve_through_discovery(api: httpx.Client) -> None:
    for spelling in ("Deployment", "deployments", "deploy", "deployments.apps", "Deployment.apps"):
        response = api.get(f"/api/v1/resources/{spelling}")
        assert response.status_code == 200, (spelling, response.text)
        assert response.json()["kind"] == "Deployment"
        assert response.json()["api_version"] == "apps/v1"


def test_unknown_kind_lists_valid_kinds(api: httpx.Client) -> None:
    response = api.get("/api/v1/resources/InvalidKind")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_kind"
    assert "Pod" in body["valid_kinds"] and "Deployment" in body["valid_kinds"]
    assert body["request_id"]


def test_label_and_field_selectors(api: httpx.Client) -> None:
    pods = api.get("/api/v1/resources/Pod", params={"limit": 500}).json()["items"]
    app = next(pod["metadata"]["labels"]["app"] for pod in pods if "app" in pod["metadata"].get("labels", {}))
    selected = api.get("/api/v1/resources/Pod", params={"label_selector": f"app={app}", "limit": 500}).json()
    expected = [pod for pod in pods if pod["metadata"].get("labels", {}).get("app") == app]
    assert selected["total_count"] == len(expected) > 0

    running = api.get(
        "/api/v1/resources/Pod", params={"field_selector": "status.phase=Running", "limit": 500}
    ).json()
    assert running["total_count"] == sum(1 for pod in pods if pod["status"].get("phase") == "Running")

    bad_label = api.get("/api/v1/resources/Pod", params={"label_selector": "app in (unclosed"})
    assert bad_label.status_code == 400
    assert bad_label.json()["error"] == "invalid_label_selector"
    bad_field = api.get("/api/v1/resources/Pod", params={"field_selector": "spec.nonsense=1"})
    assert bad_field.status_code == 400
    assert bad_field.json()["error"] == "invalid_field_selector"


def test_create_get_replace_patch_delete(api: httpx.Client) -> None:
    name = unique("cm")
    dry = api.post("/api/v1/resources/ConfigMap", params={"validate_only": "true"}, json=configmap(name))
    assert dry.status_code == 201, dry.text
    assert api.get(f"/api/v1/resources/ConfigMap/default/{name}").status_code == 404

    created = api.post("/api/v1/resources/ConfigMap", json=configmap(name))
    assert created.status_code == 201, created.text
    assert created.json()["metadata"]["uid"]
    again = api.post("/api/v1/resources/ConfigMap", json=configmap(name))
    assert again.status_code == 409
    assert again.json()["error"] == "already_exists"

    current = api.get(f"/api/v1/resources/ConfigMap/default/{name}").json()
    current["data"] = {"key": "replaced"}
    replaced = api.put(f"/api/v1/resources/ConfigMap/default/{name}", json=current)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["data"] == {"key": "replaced"}

    stale = api.put(f"/api/v1/resources/ConfigMap/default/{name}", json=current)
    assert stale.status_code == 409
    assert stale.json()["error"] == "resource_conflict"

    merged = api.put(
        f"/api/v1/resources/ConfigMap/default/{name}",
        params={"patch_strategy": "merge_patch"},
        json={"data": {"extra": "1"}},
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["data"] == {"key": "replaced", "extra": "1"}

    deleted = api.delete(f"/api/v1/resources/ConfigMap/default/{name}")
    assert deleted.status_code == 200, deleted.text
    assert api.get(f"/api/v1/resources/ConfigMap/default/{name}").status_code == 404
    missing = api.delete(f"/api/v1/resources/ConfigMap/default/{name}")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert missing.json()["resource_kind"] == "ConfigMap"


def test_strategic_merge_patch_scales_a_deployment(api: httpx.Client, stack: ClusterApiStack) -> None:
    deployments = api.get("/api/v1/resources/Deployment", params={"limit": 500}).json()["items"]
    target = deployments[0]
    namespace, name = target["metadata"]["namespace"], target["metadata"]["name"]
    replicas = target["spec"]["replicas"]
    patched = api.put(
        f"/api/v1/resources/Deployment/{namespace}/{name}",
        params={"patch_strategy": "strategic_merge_patch"},
        json={"spec": {"replicas": replicas + 1}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["spec"]["replicas"] == replicas + 1
    restored = api.put(
        f"/api/v1/resources/Deployment/{namespace}/{name}",
        params={"patch_strategy": "strategic_merge_patch"},
        json={"spec": {"replicas": replicas}},
    )
    assert restored.json()["spec"]["replicas"] == replicas


def test_validation_errors_name_the_fields(api: httpx.Client) -> None:
    bad = configmap("Not_A_Valid_Name")
    response = api.post("/api/v1/resources/ConfigMap", json=bad)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "validation_failed"
    assert any(violation["field"] == "metadata.name" for violation in body["violations"])

    mismatch = api.post("/api/v1/resources/Secret", json=configmap(unique("cm")))
    assert mismatch.status_code == 400
    assert mismatch.json()["error"] == "validation_failed"


def test_secret_values_never_leave(api: httpx.Client) -> None:
    name = unique("secret")
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"password": "aHVudGVyMg=="},
    }
    created = api.post("/api/v1/resources/Secret", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["data"] == {"password": "<redacted>"}
    listed = api.get("/api/v1/resources/Secret", params={"namespace": "default", "limit": 500}).json()[
        "items"
    ]
    mine = next(item for item in listed if item["metadata"]["name"] == name)
    assert mine["data"] == {"password": "<redacted>"}
    assert "aHVudGVyMg" not in api.get("/api/v1/resources/Secret", params={"limit": 500}).text
    echoed = api.get(f"/api/v1/resources/Secret/default/{name}").json()
    written_back = api.put(f"/api/v1/resources/Secret/default/{name}", json=echoed)
    assert written_back.status_code == 400
    assert "redacted" in written_back.json()["message"]
    api.delete(f"/api/v1/resources/Secret/default/{name}")


def test_cluster_scoped_kinds_use_a_placeholder_namespace(api: httpx.Client) -> None:
    nodes = api.get("/api/v1/resources/Node").json()["items"]
    name = nodes[0]["metadata"]["name"]
    assert api.get(f"/api/v1/resources/Node/_/{name}").json()["metadata"]["name"] == name
    assert api.get(f"/api/v1/resources/Node/default/{name}").status_code == 400


def test_delete_pod_with_grace_period_and_force(api: httpx.Client, stack: ClusterApiStack) -> None:
    name = unique("pod")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
    }
    assert api.post("/api/v1/resources/Pod", json=pod).status_code == 201
    graceful = api.delete(f"/api/v1/resources/Pod/default/{name}", params={"grace_period_seconds": 30})
    assert graceful.status_code == 200, graceful.text
    assert graceful.json()["metadata"]["deletion_timestamp"]
    assert graceful.json()["metadata"]["deletion_grace_period_seconds"] == 30
    forced = api.delete(f"/api/v1/resources/Pod/default/{name}", params={"force": "true"})
    assert forced.status_code == 200, forced.text
    assert api.get(f"/api/v1/resources/Pod/default/{name}").status_code == 404


def test_readonly_cluster_refuses_writes(stack: ClusterApiStack) -> None:
    with stack.client(READONLY_CLUSTER) as client:
        assert client.get("/api/v1/resources/Pod").status_code == 200
        refused = client.post("/api/v1/resources/ConfigMap", json=configmap(unique("cm")))
        assert refused.status_code == 403
        assert refused.json()["error"] == "forbidden"
        assert "readOnly" in refused.json()["message"]


@pytest.mark.parametrize(
    ("scopes", "method", "path", "body"),
    [
        (["read"], "POST", "/api/v1/resources/ConfigMap", configmap("x")),
        (["read", "write"], "DELETE", "/api/v1/resources/ConfigMap/default/x", None),
        (["write"], "GET", "/api/v1/resources/Pod", None),
    ],
)
def test_scopes_are_enforced(
    stack: ClusterApiStack, scopes: list[str], method: str, path: str, body: Any
) -> None:
    key = stack.create_key(unique("scoped"), scopes)
    with stack.client("direct", key=key) as client:
        response = client.request(method, path, json=body)
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "insufficient_scope"


def test_cluster_allowlist_and_unknown_context(stack: ClusterApiStack) -> None:
    key = stack.create_key(unique("tunnel-only"), ["read"], clusters=["tunnel"])
    with stack.client("direct", key=key) as client:
        assert client.get("/api/v1/resources/Pod").status_code == 403
    with stack.client("tunnel", key=key) as client:
        assert client.get("/api/v1/resources/Pod").status_code == 200
    with stack.client("no-such-cluster") as client:
        response = client.get("/api/v1/resources/Pod")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_context"
    with stack.client() as client:
        by_query = client.get("/api/v1/resources/Pod", params={"cluster": "tunnel"})
    assert by_query.status_code == 200


def test_requests_without_credentials_are_refused(stack: ClusterApiStack) -> None:
    with httpx.Client(base_url=stack.url) as client:
        response = client.get("/api/v1/resources/Pod")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_pages_of_one_namespace_match_the_whole_list(api: httpx.Client) -> None:
    """Within a namespace the first items are read from the API server's own order (a shortcut);
    the pages must be exactly those of the whole, sorted list."""
    namespace = "shop"
    whole = api.get("/api/v1/resources/Pod", params={"namespace": namespace, "limit": 500}).json()
    names = [item["metadata"]["name"] for item in whole["items"]]
    assert len(names) >= 3
    for offset, limit in ((0, 1), (1, 2), (len(names) - 1, 5), (len(names), 5)):
        page = api.get(
            "/api/v1/resources/Pod", params={"namespace": namespace, "limit": limit, "offset": offset}
        ).json()
        assert page["total_count"] == len(names)
        assert [item["metadata"]["name"] for item in page["items"]] == names[offset : offset + limit]
        assert page["page"]["has_more"] is (offset + limit < len(names))
    nodes = api.get("/api/v1/resources/Node", params={"limit": 1}).json()
    assert nodes["total_count"] == len(
        api.get("/api/v1/resources/Node", params={"limit": 500}).json()["items"]
    )
