from tests.debug_api.conftest import Harness, CANNED_PODS

async def test_sync_execute(harness: Harness) -> None:
    async with harness.connected_executor("prod-1"):
        response = await harness.execute(cluster_id="prod-1", command_type="get", args=["pods"])
    assert response.status_code == 200, response.text
    body = response.json()
    print(body, response.headers)
    assert body["output"] == CANNED_PODS
