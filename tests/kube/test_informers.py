"""Informer-backed lists (kube.cached) against the simulated cluster's real API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pilothouse.kube.cached import InformerListOps
from pilothouse.kube.informer import Informer
from pilothouse.kube.ops import JsonObject, ListQuery
from tests.cluster_api.views_fixtures import sim_view


def names(items: list[JsonObject]) -> list[str]:
    return [f"{item['metadata'].get('namespace', '')}/{item['metadata']['name']}" for item in items]


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}}


async def eventually(check: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "the informer never caught up"
        await asyncio.sleep(0.02)


async def test_cached_lists_match_the_api_server_and_follow_changes(tmp_path: Path) -> None:
    async with sim_view(tmp_path, "healthy") as view:
        cached = InformerListOps(view.ops)
        try:
            pods = await view.resolver.resolve("pods")
            for query in (
                ListQuery(),
                ListQuery(namespace="shop"),
                ListQuery(limit=3, offset=2, sort_by="created"),
            ):
                direct = await view.ops.list(pods, query)
                from_cache = await cached.list(pods, query)
                assert names(from_cache.items) == names(direct.items)
                assert from_cache.total_count == direct.total_count

            configmaps = await view.resolver.resolve("configmaps")
            before = (await cached.list(configmaps, ListQuery())).total_count
            await view.ops.create(configmaps, configmap("informer-added"), "default")

            async def count() -> int:
                return (await cached.list(configmaps, ListQuery())).total_count

            for _ in range(200):
                if await count() == before + 1:
                    break
                await asyncio.sleep(0.02)
            assert await count() == before + 1

            # Selectors always go to the API server.
            selected = await cached.list(pods, ListQuery(label_selector="app=no-such-app"))
            assert selected.total_count == 0
        finally:
            await cached.close()


async def test_informer_relists_after_its_history_is_gone(tmp_path: Path) -> None:
    async with sim_view(tmp_path, "healthy") as view:
        configmaps = await view.resolver.resolve("configmaps")
        informer = Informer(view.ops, configmaps, namespace="default")
        events: list[tuple[str, str]] = []

        class Recorder:
            def on_synced(self, objects: list[JsonObject]) -> None:
                events.extend(("SYNCED", name) for name in names(objects))

            def on_event(self, kind: str, obj: JsonObject) -> None:
                events.append((kind, obj["metadata"]["name"]))

            def on_error(self, message: str) -> None:
                events.append(("ERROR", message))

        informer.listeners.add(Recorder())
        informer.start()
        try:
            await asyncio.wait_for(informer.synced.wait(), 10)
            relists = informer.relists
            view.cluster.store.close_watchers(("", "configmaps"))
            view.cluster.apply(configmap("made-in-the-gap"))
            view.cluster.store.compact(("", "configmaps"))
            await eventually(lambda: ("ADDED", "made-in-the-gap") in events)
            assert informer.relists == relists + 1
            assert events.count(("ADDED", "made-in-the-gap")) == 1
            assert any(obj["metadata"]["name"] == "made-in-the-gap" for obj in informer.objects())
        finally:
            await informer.stop()
