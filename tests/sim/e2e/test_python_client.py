"""kubernetes_asyncio, the real async Python client, against the simulated cluster."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.stream import WsApiClient

from tests.sim.e2e.conftest import Sim

NAMESPACE = "default"


def pod_manifest(
    name: str, labels: dict[str, str] | None = None, image: str = "nginx:1.27"
) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {
            "containers": [{"name": "main", "image": image, "env": [{"name": "MODE", "value": "test"}]}]
        },
    }


@pytest.fixture
async def api(sim: Sim) -> AsyncIterator[client.ApiClient]:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(sim.server.kubeconfig_path), client_configuration=configuration
    )
    async with client.ApiClient(configuration) as api_client:
        yield api_client


async def test_list_with_selectors_and_paging(sim: Sim, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    for index in range(5):
        await core.create_namespaced_pod(
            NAMESPACE, pod_manifest(f"p{index}", {"app": "a" if index % 2 else "b"})
        )
    selected = await core.list_namespaced_pod(NAMESPACE, label_selector="app in (a)")
    assert [p.metadata.name for p in selected.items] == ["p1", "p3"]
    first = await core.list_namespaced_pod(NAMESPACE, limit=2)
    assert [p.metadata.name for p in first.items] == ["p0", "p1"]
    assert first.metadata.remaining_item_count == 3
    rest = await core.list_namespaced_pod(NAMESPACE, limit=10, _continue=first.metadata._continue)
    assert [p.metadata.name for p in rest.items] == ["p2", "p3", "p4"]
    assert not rest.metadata._continue


async def test_watch_resumes_from_a_resource_version(sim: Sim, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    listed = await core.list_namespaced_pod(NAMESPACE)
    version = listed.metadata.resource_version
    await core.create_namespaced_pod(NAMESPACE, pod_manifest("w1"))
    await core.delete_namespaced_pod("w1", NAMESPACE, grace_period_seconds=0)
    seen = []
    async with watch.Watch().stream(
        core.list_namespaced_pod, NAMESPACE, resource_version=version, timeout_seconds=2
    ) as stream:
        async for event in stream:
            seen.append((event["type"], event["object"].metadata.name))
            if event["type"] == "DELETED":
                break
    assert seen[0] == ("ADDED", "w1")
    assert seen[-1] == ("DELETED", "w1")


async def test_watch_from_an_expired_version_gets_410(sim: Sim, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    old = (await core.list_namespaced_pod(NAMESPACE)).metadata.resource_version
    await core.create_namespaced_pod(NAMESPACE, pod_manifest("x"))
    sim.cluster.store.compact(("", "pods"))

    async def drain() -> None:
        async with watch.Watch().stream(
            core.list_namespaced_pod, NAMESPACE, resource_version=old, timeout_seconds=2
        ) as stream:
            async for _ in stream:
                pass

    with pytest.raises(ApiException) as raised:
        await drain()
    assert raised.value.status == 410


async def test_watch_survives_the_server_closing_it(sim: Sim, api: client.ApiClient) -> None:
    """A watch without timeout reconnects when the server ends it, and misses nothing."""
    core = client.CoreV1Api(api)
    version = (await core.list_namespaced_pod(NAMESPACE)).metadata.resource_version
    names: list[str] = []

    async def consume() -> None:
        async with watch.Watch().stream(
            core.list_namespaced_pod, NAMESPACE, resource_version=version
        ) as stream:
            async for event in stream:
                if event["type"] == "ADDED":
                    names.append(event["object"].metadata.name)
                if len(names) == 2:
                    return

    task = asyncio.create_task(consume())
    await core.create_namespaced_pod(NAMESPACE, pod_manifest("before"))
    await asyncio.sleep(0.3)
    sim.cluster.store.close_watchers(("", "pods"))
    await core.create_namespaced_pod(NAMESPACE, pod_manifest("after"))
    await asyncio.wait_for(task, 10)
    assert names == ["before", "after"]


async def test_patch_strategies(sim: Sim, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    await core.create_namespaced_pod(NAMESPACE, pod_manifest("patched"))
    merged = await core.patch_namespaced_pod("patched", NAMESPACE, {"metadata": {"labels": {"team": "blue"}}})
    assert merged.metadata.labels == {"app": "patched", "team": "blue"}
    strategic = await core.patch_namespaced_pod(
        "patched", NAMESPACE, {"spec": {"containers": [{"name": "main", "image": "nginx:1.28"}]}}
    )
    assert strategic.spec.containers[0].image == "nginx:1.28"
    assert strategic.spec.containers[0].env[0].name == "MODE"  # merged by name, not replaced
    json_patched = await core.patch_namespaced_pod(
        "patched",
        NAMESPACE,
        [{"op": "remove", "path": "/metadata/labels/team"}],
        _content_type="application/json-patch+json",
    )
    assert json_patched.metadata.labels == {"app": "patched"}
    with pytest.raises(ApiException) as raised:
        await core.patch_namespaced_pod(
            "patched",
            NAMESPACE,
            [{"op": "test", "path": "/metadata/name", "value": "other"}],
            _content_type="application/json-patch+json",
        )
    assert raised.value.status == 422


async def test_optimistic_concurrency(sim: Sim, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    created = await core.create_namespaced_config_map(
        NAMESPACE, {"metadata": {"name": "cfg"}, "data": {"a": "1"}}
    )
    created.data["a"] = "2"
    await core.replace_namespaced_config_map("cfg", NAMESPACE, created)
    created.data["a"] = "3"
    with pytest.raises(ApiException) as raised:
        await core.replace_namespaced_config_map("cfg", NAMESPACE, created)  # stale resourceVersion
    assert raised.value.status == 409
    assert json.loads(raised.value.body)["reason"] == "Conflict"
    assert (await core.read_namespaced_config_map("cfg", NAMESPACE)).data == {"a": "2"}


async def test_dry_run_creates_nothing(sim: Sim, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    result = await core.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": "dry"}}, dry_run="All")
    assert result.metadata.name == "dry"
    with pytest.raises(ApiException) as raised:
        await core.read_namespaced_config_map("dry", NAMESPACE)
    assert raised.value.status == 404


async def test_logs_follow_streams_new_lines(sim: Sim, api: client.ApiClient) -> None:
    from pilothouse.sim.behaviour import Behaviours

    sim.cluster.kubelet.configure(
        Behaviours.from_spec(
            [
                {
                    "match": {"pod": "talker"},
                    "logs": {"start": ["hello"], "every": {"seconds": 1, "lines": ["tick"]}},
                }
            ]
        ),
        sim.cluster.kubelet.registry,
    )
    core = client.CoreV1Api(api)
    await core.create_namespaced_pod(NAMESPACE, pod_manifest("talker"))
    sim.advance(5)
    response = await core.read_namespaced_pod_log("talker", NAMESPACE, follow=True, _preload_content=False)
    first = await response.content.readline()
    assert first == b"hello\n"
    lines = [await response.content.readline() for _ in range(3)]
    assert lines == [b"tick\n"] * 3
    before = len(lines)
    sim.advance(2)  # two more seconds of simulated time: two more ticks arrive on the open stream
    more = [await asyncio.wait_for(response.content.readline(), 5) for _ in range(2)]
    assert more == [b"tick\n", b"tick\n"]
    assert before == 3
    response.release()


async def test_exec_reports_exit_code_and_streams(sim: Sim, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    await core.create_namespaced_pod(NAMESPACE, pod_manifest("shell"))
    sim.advance(10)
    configuration = api.configuration
    async with WsApiClient(configuration) as ws_api:
        ws_core = client.CoreV1Api(ws_api)
        output = await ws_core.connect_get_namespaced_pod_exec(
            "shell", NAMESPACE, command=["sh", "-c", "echo out; echo $MODE"], stderr=True, stdout=True
        )
        assert output == "out\ntest\n"
        socket = await ws_core.connect_get_namespaced_pod_exec(
            "shell",
            NAMESPACE,
            command=["sh", "-c", "exit 7"],
            stderr=True,
            stdout=True,
            _preload_content=False,
        )
        exit_code = None
        async with socket as ws:
            async for message in ws:
                data = message.data
                if data and data[0] == 3:
                    exit_code = WsApiClient.parse_error_data(data[1:])
        assert exit_code == 7
