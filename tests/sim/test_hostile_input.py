"""Bad input never crashes the simulated API server or corrupts its state.

Requests go through the real ASGI app (httpx's ASGI transport is enough here: no streaming),
with generated bodies, patches, paths and query strings. Every answer must be a Kubernetes
Status with a 4xx code (or a success), and the cluster must afterwards still list, serve and
reconcile normally.
"""

from __future__ import annotations

import json
import string
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilothouse.sim.apiserver import ApiServer
from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.scenario import NodeSpec, add_nodes

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
object_like = st.fixed_dictionaries(
    {},
    optional={
        "apiVersion": st.sampled_from(["v1", "apps/v1", "x/y", ""]) | st.text(max_size=5),
        "kind": st.sampled_from(["Pod", "ConfigMap", "Deployment", "Nope"]) | st.text(max_size=5),
        "metadata": st.fixed_dictionaries(
            {},
            optional={
                "name": st.text(alphabet=string.ascii_letters + "-._", max_size=70) | json_values,
                "namespace": st.sampled_from(["default", "nope", ""]) | json_values,
                "labels": json_values,
                "resourceVersion": json_values,
                "finalizers": json_values,
            },
        )
        | json_values,
        "spec": json_values,
        "data": json_values,
        "status": json_values,
    },
)
paths = st.sampled_from(
    [
        "/api/v1/namespaces/default/pods",
        "/api/v1/namespaces/default/configmaps",
        "/apis/apps/v1/namespaces/default/deployments",
        "/api/v1/nodes",
        "/api/v1/namespaces",
        "/api/v1/namespaces/default/pods/web",
        "/api/v1/namespaces/default/pods/web/status",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        "/api/v1/namespaces/default/pods/web/log",
        "/apis/nope/v1/things",
        "/api/v9/pods",
        "/api/v1/namespaces/default/pods/web/bogus",
    ]
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
        "application/apply-patch+yaml",
        "text/plain",
        "application/yaml",
    ]
)
queries = st.dictionaries(
    st.sampled_from(
        [
            "labelSelector",
            "fieldSelector",
            "limit",
            "continue",
            "watch",
            "resourceVersion",
            "tailLines",
            "gracePeriodSeconds",
            "propagationPolicy",
            "dryRun",
            "timeoutSeconds",
        ]
    ),
    st.text(max_size=15),
    max_size=3,
)


@pytest.fixture
async def client() -> AsyncIterator[tuple[SimCluster, httpx.AsyncClient]]:
    cluster = SimCluster(seed=3, manual_clock=True)
    add_nodes(cluster, [NodeSpec("node-1")])
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "w"}},
                "template": {
                    "metadata": {"labels": {"app": "w"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
                },
            },
        },
    )
    cluster.advance(10, step=1)
    transport = httpx.ASGITransport(app=ApiServer(cluster).build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as http:
        yield cluster, http


def _assert_kubernetes_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert body["kind"] == "Status"
        assert body["code"] == response.status_code
        assert body["message"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET"]),
    path=paths,
    body=object_like | json_values,
    content_type=content_types,
    query=queries,
)
async def test_generated_requests_get_status_answers_and_leave_a_working_cluster(
    client: tuple[SimCluster, httpx.AsyncClient],
    method: str,
    path: str,
    body: Any,
    content_type: str,
    query: dict[str, str],
) -> None:
    cluster, http = client
    if query.get("watch"):
        query["timeoutSeconds"] = "0"  # a watch that ends at once: this test is about parsing
    response = await http.request(
        method, path, params=query, content=json.dumps(body).encode(), headers={"content-type": content_type}
    )
    _assert_kubernetes_answer(response)
    cluster.advance(1)
    assert cluster.engine.errors == 0
    listed = await http.get("/api/v1/pods", params={"limit": "500"})
    assert listed.status_code == 200
    for pod in listed.json()["items"]:
        assert pod["metadata"]["name"]
        assert pod["metadata"]["resourceVersion"]


@pytest.mark.parametrize("raw", [b"{", b"[1, 2", b"\xff\xfe", b"null", b"42", b'"text"', b"[]"])
async def test_undecodable_or_non_object_bodies_are_400(
    client: tuple[SimCluster, httpx.AsyncClient], raw: bytes
) -> None:
    _, http = client
    response = await http.post(
        "/api/v1/namespaces/default/configmaps", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["reason"] == "BadRequest"


async def test_oversized_body_is_413(client: tuple[SimCluster, httpx.AsyncClient]) -> None:
    cluster, http = client
    huge = json.dumps({"metadata": {"name": "big"}, "data": {"k": "x" * (4 * 1024 * 1024)}}).encode()
    response = await http.post(
        "/api/v1/namespaces/default/configmaps", content=huge, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert cluster.get("", "ConfigMap", "default", "big") is None


async def test_failed_patch_leaves_the_object_unchanged(client: tuple[SimCluster, httpx.AsyncClient]) -> None:
    cluster, http = client
    before = cluster.get("apps", "Deployment", "default", "web")
    response = await http.patch(
        "/apis/apps/v1/namespaces/default/deployments/web",
        content=json.dumps(
            [
                {"op": "replace", "path": "/spec/replicas", "value": 5},
                {"op": "test", "path": "/metadata/name", "value": "other"},
            ]
        ).encode(),
        headers={"content-type": "application/json-patch+json"},
    )
    assert response.status_code == 422
    assert cluster.get("apps", "Deployment", "default", "web") == before


async def test_invalid_update_is_422_and_keeps_the_stored_object(
    client: tuple[SimCluster, httpx.AsyncClient],
) -> None:
    cluster, http = client
    before = cluster.get("apps", "Deployment", "default", "web")
    assert before is not None
    response = await http.patch(
        "/apis/apps/v1/namespaces/default/deployments/web",
        content=json.dumps({"spec": {"replicas": -3}}).encode(),
        headers={"content-type": "application/merge-patch+json"},
    )
    assert response.status_code == 422
    assert response.json()["details"]["causes"][0]["field"] == "spec.replicas"
    assert cluster.get("apps", "Deployment", "default", "web") == before
