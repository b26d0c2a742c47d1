"""Prepare a fresh deployment before its server starts: migrate the database, create an admin
key and register tunnel clusters with their executor tokens.

``pilothouse demo``, the end-to-end tests and ``bench/gateway.py`` start the same way: a new
database, one admin key, one or more clusters whose executors dial in. The secrets exist only in
the values returned here (the database keeps salted hashes), so the caller hands them on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NamedTuple

from pilothouse.audit.clock import utc_now
from pilothouse.audit.service import Actor
from pilothouse.auth.principal import Scope
from pilothouse.auth.service import create_key
from pilothouse.clusters.service import ClusterRegistry
from pilothouse.settings import SecurityMode, Settings
from pilothouse.store.database import Database
from pilothouse.store.migrate import upgrade_to_head

DEFAULT_ACTOR_NAME = "pilothouse bootstrap"


class ClusterAccess(NamedTuple):
    """An admin API key (every scope, every cluster) and the executor token of one cluster."""

    api_key: str
    executor_token: str


@asynccontextmanager
async def _migrated(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database_url)
    await database.connect()
    try:
        await upgrade_to_head(settings.database_url, engine=database.engine)
        yield database
    finally:
        await database.dispose()


async def bootstrap_cluster_access(
    settings: Settings,
    cluster_id: str,
    *,
    security_mode: SecurityMode,
    cluster_name: str | None = None,
    key_name: str = "admin",
    actor_name: str = DEFAULT_ACTOR_NAME,
) -> ClusterAccess:
    """Migrate the database, create an admin key and register ``cluster_id`` (one unit of work:
    nothing is kept if any step fails)."""
    async with _migrated(settings) as database:
        registry = ClusterRegistry(database, settings)
        actor = Actor(key_id=None, name=actor_name)
        async with database.session() as session:
            key = await create_key(
                session,
                name=key_name,
                scopes=[scope.value for scope in Scope],
                clusters=None,
                actor=actor,
                now=utc_now(),
            )
            issued = await registry.add(
                session, cluster_id, actor=actor, name=cluster_name, security_mode=security_mode
            )
        return ClusterAccess(key.plaintext, issued.token)


async def register_clusters(
    settings: Settings,
    cluster_ids: Iterable[str],
    *,
    security_mode: SecurityMode,
    actor_name: str = DEFAULT_ACTOR_NAME,
) -> dict[str, str]:
    """Migrate the database and register tunnel clusters; their executor tokens by cluster id."""
    tokens: dict[str, str] = {}
    async with _migrated(settings) as database:
        registry = ClusterRegistry(database, settings)
        actor = Actor(key_id=None, name=actor_name)
        async with database.session() as session:
            for cluster_id in cluster_ids:
                issued = await registry.add(session, cluster_id, actor=actor, security_mode=security_mode)
                tokens[cluster_id] = issued.token
    return tokens


async def register_direct_cluster(
    settings: Settings,
    cluster_id: str,
    *,
    kubeconfig: Path,
    security_mode: SecurityMode,
    context: str | None = None,
    name: str | None = None,
    actor_name: str = DEFAULT_ACTOR_NAME,
) -> None:
    """Migrate the database and register a Direct cluster (the server uses ``kubeconfig``)."""
    async with _migrated(settings) as database:
        registry = ClusterRegistry(database, settings)
        async with database.session() as session:
            await registry.add_direct(
                session,
                cluster_id,
                actor=Actor(key_id=None, name=actor_name),
                kubeconfig_path=str(kubeconfig),
                kube_context=context,
                name=name,
                security_mode=security_mode,
            )
