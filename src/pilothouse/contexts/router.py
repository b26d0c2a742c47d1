"""``GET /api/v1/contexts`` (the clusters one may select) and ``GET /api/v1/version``."""

from __future__ import annotations

import asyncio
import platform
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request

from pilothouse import __version__
from pilothouse.auth.dependencies import ApiReader
from pilothouse.contexts.dependencies import ClusterTargetsDep, ReadTarget, requested_context
from pilothouse.contexts.service import REACHABILITY_TIMEOUT_SECONDS, ClusterTargets, kubernetes_version
from pilothouse.dependencies import DatabaseDep
from pilothouse.settings import Settings
from pilothouse.store.migrate import current_revision


@asynccontextmanager
async def contexts_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    targets = ClusterTargets(
        app.state.cluster_registry, app.state.tunnel_hub, default_cluster=settings.default_cluster
    )
    app.state.cluster_targets = targets
    yield
    await targets.close()


router = APIRouter(prefix="/api/v1", tags=["contexts"])


@router.get("/contexts", summary="Clusters (kubeconfig contexts and tunnels) this caller may select")
async def list_contexts(request: Request, principal: ApiReader, targets: ClusterTargetsDep) -> dict[str, Any]:
    registry = request.app.state.cluster_registry
    async with registry.database.session() as session:
        clusters = await registry.all_clusters(session)
    allowed = [cluster for cluster in clusters if principal.may_access_cluster(cluster.id)]
    views = [await registry.cached_view(cluster.id) for cluster in allowed]
    entries = await asyncio.gather(*(targets.describe(view) for view in views))
    current: str | None
    try:
        current = (await targets.select(requested_context(request))).id
    except Exception:  # no default and several clusters: there is no current context
        current = None
    return {"current_context": current, "contexts": list(entries), "total_count": len(entries)}


@router.get("/version", summary="Versions of the server, the selected cluster and the database")
async def version(target: ReadTarget, database: DatabaseDep) -> dict[str, Any]:
    kubernetes: dict[str, Any] = {"cluster_name": target.view.name, "cluster_id": target.id}
    try:
        document = await asyncio.wait_for(target.ops.server_version(), REACHABILITY_TIMEOUT_SECONDS)
    except Exception as error:  # the version call failing is reported, not fatal
        kubernetes["error"] = str(getattr(error, "message", None) or error) or type(error).__name__
    else:
        kubernetes.update(
            api_version=kubernetes_version(document),
            git_version=document.get("gitVersion"),
            platform=document.get("platform"),
        )
    return {
        "backend": {
            "version": __version__,
            "python_version": platform.python_version(),
            "architecture": platform.machine(),
            "platform": sys.platform,
        },
        "ai_service": {"version": __version__, "llm": "not_configured"},
        "kubernetes": kubernetes,
        "database": {
            "type": database.dialect_name,
            "server_version": await database.server_version(),
            "migration_version": await current_revision("", engine=database.engine),
        },
    }
