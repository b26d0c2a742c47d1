"""GET /api/v1/namespaces, service level: a simulated cluster through DirectClusterOps."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pilothouse.namespaces.service import is_system_namespace, list_namespaces, sum_quantities
from tests.cluster_api.views_fixtures import SimView, namespace, resource_quota, sim_view


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[SimView]:
    """healthy (shop) + crashloop-missing-env (payments), two quotas on shop, a kube-* namespace."""
    quotas = [
        resource_quota("shop", "compute", {"pods": "20", "requests.memory": "4Gi", "requests.cpu": "2"}),
        resource_quota("shop", "more", {"pods": "10", "requests.memory": "512Mi", "services": "5"}),
    ]
    extra = [namespace("kube-extras"), namespace("empty", labels={"team": "platform"})]
    async with sim_view(tmp_path, "healthy", "crashloop-missing-env", manifests=[*extra, *quotas]) as view:
        yield view


async def test_counts_pods_per_namespace_and_hides_system_ones(shop: SimView) -> None:
    result = await list_namespaces(shop.ops, shop.resolver)
    truth = Counter(pod["metadata"]["namespace"] for pod in shop.objects("", "Pod"))
    names = [item.name for item in result.items]
    assert names == ["default", "empty", "payments", "shop"]
    assert not any(is_system_namespace(name) for name in names)
    assert result.total_count == 4
    assert result.page.model_dump() == {"limit": 100, "offset": 0, "returned": 4, "has_more": False}
    counts = {item.name: item.pod_count for item in result.items}
    assert counts == {"default": 0, "empty": 0, "payments": truth["payments"], "shop": truth["shop"]}
    assert truth["shop"] >= 5 and truth["payments"] == 3
    for item in result.items:
        assert item.status == "Active"
        assert item.creation_timestamp == "2026-02-10T02:00:00Z"
    empty = next(item for item in result.items if item.name == "empty")
    assert empty.labels == {"team": "platform", "kubernetes.io/metadata.name": "empty"}


async def test_include_system(shop: SimView) -> None:
    result = await list_namespaces(shop.ops, shop.resolver, include_system=True)
    names = [item.name for item in result.items]
    assert {"kube-system", "kube-public", "kube-node-lease", "kube-extras"} <= set(names)
    assert result.total_count == len(shop.objects("", "Namespace")) == 8
    assert names == sorted(names)


async def test_quota_status_sums_every_quota_of_the_namespace(shop: SimView) -> None:
    result = await list_namespaces(shop.ops, shop.resolver)
    by_name = {item.name: item for item in result.items}
    assert by_name["payments"].resource_quota_status is None
    status = by_name["shop"].resource_quota_status
    assert status is not None
    assert status.hard == {
        "pods": "30",
        "requests.cpu": "2",
        "requests.memory": "4608Mi",  # 4Gi + 512Mi, exactly, in the binary form of the first
        "services": "5",
    }
    quotas = shop.objects("", "ResourceQuota", "shop")
    pods_used = {quota["metadata"]["name"]: quota["status"]["used"]["pods"] for quota in quotas}
    # Both quotas count the same pods; the sum counts them once per quota, as their totals do.
    assert status.used["pods"] == str(sum(int(value) for value in pods_used.values()))
    assert int(pods_used["compute"]) == by_name["shop"].pod_count - _terminal_pods(shop, "shop")
    assert status.used["services"] == "3"


def _terminal_pods(view: SimView, namespace_name: str) -> int:
    return sum(
        pod["status"].get("phase") in ("Succeeded", "Failed")
        for pod in view.objects("", "Pod", namespace_name)
    )


async def test_pages(shop: SimView) -> None:
    first = await list_namespaces(shop.ops, shop.resolver, limit=3, include_system=True)
    second = await list_namespaces(shop.ops, shop.resolver, limit=3, offset=3, include_system=True)
    last = await list_namespaces(shop.ops, shop.resolver, limit=3, offset=6, include_system=True)
    assert first.page.model_dump() == {"limit": 3, "offset": 0, "returned": 3, "has_more": True}
    assert second.page.has_more and second.page.returned == 3
    assert last.page.model_dump() == {"limit": 3, "offset": 6, "returned": 2, "has_more": False}
    everything = [item.name for page in (first, second, last) for item in page.items]
    assert everything == sorted(everything) and len(set(everything)) == 8
    beyond = await list_namespaces(shop.ops, shop.resolver, offset=50)
    assert beyond.items == [] and beyond.total_count == 4 and not beyond.page.has_more


def test_system_namespaces() -> None:
    for name in ("kube-system", "kube-public", "kube-node-lease", "kube-flannel"):
        assert is_system_namespace(name)
    for name in ("default", "kubernetes-dashboard", "my-kube-system", "kube"):
        assert not is_system_namespace(name)


def test_sum_quantities_keeps_single_values_as_written() -> None:
    assert sum_quantities([{"memory": "1000Gi", "cpu": "1500m"}]) == {"cpu": "1500m", "memory": "1000Gi"}
    assert sum_quantities([{"cpu": "500m"}, {"cpu": "1.5"}]) == {"cpu": "2"}
    assert sum_quantities([{"cpu": "500m"}, {"cpu": "250m"}]) == {"cpu": "750m"}
    # An unreadable value (the API server would never send one) is left out of a sum.
    assert sum_quantities([{"pods": "3"}, {"pods": "bogus"}, {"pods": "4"}]) == {"pods": "7"}
