"""``/api/v1/contexts`` and ``/api/v1/version``, and how a request picks its cluster."""

from __future__ import annotations

from pilothouse.audit.service import Actor
from tests.cluster_api.conftest import ClusterApiStack


def test_contexts_list_both_transports_with_reachability(stack: ClusterApiStack) -> None:
    with stack.client() as client:
        response = client.get("/api/v1/contexts")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["current_context"] == "direct"
    contexts = {entry["name"]: entry for entry in body["contexts"]}
    assert set(contexts) >= {"direct", "tunnel", "readonly"}
    direct, tunnel = contexts["direct"], contexts["tunnel"]
    assert direct["transport"] == "direct" and tunnel["transport"] == "tunnel"
    for entry in (direct, tunnel):
        assert entry["is_reachable"] is True
        assert entry["kubernetes_version"] == "1.37.0"
    assert direct["kubeconfig"] == str(stack.kubeconfig)
    assert direct["cluster"]["name"] and direct["user"]["name"]
    assert tunnel["cluster"]["server"] == "tunnel://tunnel"
    assert tunnel["executors"] and tunnel["executors"][0]["executor_id"].startswith("exe_")
    assert contexts["readonly"]["security_mode"] == "readOnly"


def test_contexts_only_show_allowed_clusters(stack: ClusterApiStack) -> None:
    key = stack.create_key("tunnel-reader", ["read"], clusters=["tunnel"])
    with stack.client(key=key) as client:
        body = client.get("/api/v1/contexts").json()
    assert [entry["name"] for entry in body["contexts"]] == ["tunnel"]


def test_unreachable_tunnel_is_reported_not_fatal(stack: ClusterApiStack) -> None:
    stack.run(_add_tunnel_cluster(stack, "no-executor"))
    with stack.client() as client:
        entry = next(
            item
            for item in client.get("/api/v1/contexts").json()["contexts"]
            if item["name"] == "no-executor"
        )
        assert entry["is_reachable"] is False
        assert "is connected to the streaming tunnel" in entry["error"]
        listed = client.get("/api/v1/resources/Pod", headers={"X-Kubeconfig-Context": "no-executor"})
    assert listed.status_code == 503
    assert listed.json()["error"] == "service_unavailable"


async def _add_tunnel_cluster(stack: ClusterApiStack, cluster_id: str) -> None:
    registry = stack.app.state.cluster_registry
    async with registry.database.session() as session:
        if cluster_id not in [cluster.id for cluster in await registry.all_clusters(session)]:
            await registry.add(session, cluster_id, actor=Actor(key_id=None, name="tests"))


def test_version_reports_real_components(stack: ClusterApiStack) -> None:
    for cluster in ("direct", "tunnel"):
        with stack.client(cluster) as client:
            response = client.get("/api/v1/version", headers={"X-Request-ID": "req-version-1"})
        assert response.status_code == 200, response.text
        assert response.headers["X-Request-ID"] == "req-version-1"
        body = response.json()
        assert body["kubernetes"]["api_version"] == "1.37.0"
        assert body["kubernetes"]["cluster_id"] == cluster
        assert body["database"]["type"] == "sqlite"
        assert body["database"]["server_version"].count(".") == 2
        assert body["database"]["migration_version"]
        assert body["backend"]["version"]


def test_rate_limit_headers_on_cluster_api(stack: ClusterApiStack) -> None:
    with stack.client("direct") as client:
        response = client.get("/api/v1/resources/Namespace")
    for header in (
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
        "X-RateLimit-Reset-After",
    ):
        assert header in response.headers, header
