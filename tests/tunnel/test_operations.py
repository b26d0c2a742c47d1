"""The executor's side of the tunnel: what a server may ask it to read, and what it sends back."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from pilothouse.kube.ops import KubeApiError
from pilothouse.policy import SecurityMode
from pilothouse.tunnel.mux import Stream
from pilothouse.tunnel.operations import OperationServer
from tests.cluster_api.views_fixtures import sim_view
from tests.tunnel.test_mux import pair


async def read_through_tunnel(
    server: OperationServer, args: dict[str, Any]
) -> tuple[bytes | None, dict[str, Any]]:
    async for client, _, _ in pair(server):
        stream: Stream = await client.open("read", args)
        message = await asyncio.wait_for(stream.receive(), 10)
        if message is not None:
            assert await stream.receive() is None
        return message, stream.end_payload or {}
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/namespaces/default/pods/web/exec",
        "/api/v1/namespaces/default/pods/web/log",
        "/api/v1/../../version",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        "/api/v1/nodes/node-1/proxy",
        "/healthz",
    ],
)
async def test_read_refuses_anything_but_collections(tmp_path: Path, path: str) -> None:
    async with sim_view(tmp_path) as view:
        server = OperationServer(view.ops, SecurityMode.READ_ONLY, read_raw=view.ops.read_raw)
        message, end = await read_through_tunnel(server, {"path": path, "params": []})
    assert message is None
    assert end["error"]["status"] == 400


async def test_read_forwards_lists_and_redacts_secrets(tmp_path: Path) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "default"},
        "data": {"password": "aHVudGVyMg=="},
    }
    async with sim_view(tmp_path, "healthy", manifests=[secret]) as view:
        server = OperationServer(view.ops, SecurityMode.READ_ONLY, read_raw=view.ops.read_raw)
        nodes, _ = await read_through_tunnel(server, {"path": "/api/v1/nodes", "params": [["limit", 1]]})
        secrets, _ = await read_through_tunnel(
            server, {"path": "/api/v1/namespaces/default/secrets", "params": []}
        )
        _, refused = await read_through_tunnel(
            server, {"path": "/api/v1/nodes", "params": [["watch", "true"]]}
        )
    assert nodes is not None and len(orjson.loads(nodes)["items"]) == 1
    assert secrets is not None and b"aHVudGVyMg" not in secrets
    assert orjson.loads(secrets)["items"][0]["data"] == {"password": "<redacted>"}
    assert KubeApiError.from_json(refused["error"]).status == 400
