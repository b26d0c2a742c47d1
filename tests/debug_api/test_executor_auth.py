"""Executor authentication headers: what is required, what is validated, which copy counts."""

from __future__ import annotations

import pytest

from tests.debug_api.conftest import Harness, executor_headers


async def test_missing_or_malformed_credentials_are_401(harness: Harness) -> None:
    token = await harness.add_cluster("prod-1")
    good = executor_headers("prod-1", token)
    for headers in (
        {key: value for key, value in good.items() if key != "X-Cluster-ID"},
        {**good, "Authorization": f"Basic {token}"},
        {**good, "Authorization": "Bearer  "},
        {**good, "X-Cluster-ID": "Not_A_Cluster"},
        {**good, "Authorization": "Bearer wrong"},
    ):
        response = await harness.http.get("/agent/status", headers=headers)
        assert response.status_code == 401, headers
    assert (await harness.http.get("/agent/status", headers=good)).status_code == 200


@pytest.mark.parametrize(
    ("header", "value"),
    [("X-Executor-Id", "has space"), ("X-Executor-Version", "x" * 65), ("X-Executor-Inflight", "-1")],
)
async def test_malformed_executor_details_are_400(harness: Harness, header: str, value: str) -> None:
    token = await harness.add_cluster("prod-1")
    response = await harness.http.get(
        "/agent/status", headers={**executor_headers("prod-1", token), header: value}
    )
    assert response.status_code == 400
    assert response.json()["details"]["field"] == header


async def test_the_first_of_repeated_headers_counts(harness: Harness) -> None:
    token = await harness.add_cluster("prod-1")
    other = await harness.add_cluster("prod-2")
    headers = [
        *executor_headers("prod-1", token).items(),
        ("x-cluster-id", "prod-2"),
        ("authorization", f"Bearer {other}"),
    ]
    response = await harness.http.get("/agent/status", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["cluster_id"] == "prod-1"
