"""The cluster registry: which clusters exist, how they are reached, whether their executors
are connected, and which command policy applies to each.

Tunnel clusters are reached through executors that dial in with a per-cluster token. The
``transport`` field leaves room for Direct clusters (kubeconfig contexts) added by the Cluster
API; everything here that is tunnel-specific says so.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import orjson
from kubernetes_asyncio.config import list_kube_config_contexts
from sqlalchemy import Executable, Table, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pilothouse.audit.clock import Clock, utc_now
from pilothouse.audit.service import Actor, AuditAction, AuditOutcome, record
from pilothouse.auth.hashing import hash_secret, new_salt, new_secret, secret_matches
from pilothouse.clusters.ids import is_valid_cluster_id
from pilothouse.clusters.models import Cluster, ClusterExecutor
from pilothouse.errors import AlreadyExists, NotFound, Unauthorized, ValidationFailed
from pilothouse.policy import CommandPolicy, ResourceRef, SecurityMode, StaticResourceCatalog, builtin_catalog
from pilothouse.policy.resources import ResourceCatalog
from pilothouse.settings import Settings
from pilothouse.store.database import Database

TRANSPORT_TUNNEL = "tunnel"
TRANSPORT_DIRECT = "direct"
EXECUTOR_TOKEN_PREFIX = "phc_"  # noqa: S105 - a prefix, not a secret
# Heartbeats arrive with every executor request; writing each one would turn polling into
# a stream of writes. Within this interval only a change of version is written at once.
HEARTBEAT_WRITE_INTERVAL = timedelta(seconds=5)
# Without these the policy's Secret check could not trust a reported resource list.
_REQUIRED_CORE_RESOURCES = frozenset({"pods", "secrets", "namespaces"})
_MAX_CACHED_CATALOGS = 64
# Policies kept (one per security mode and catalog), and the allowed decisions each remembers
# (CommandPolicy.decide): at most ~0.5 MB each.
_MAX_CACHED_POLICIES = 64
REMEMBERED_DECISIONS = 256
# Commands read their cluster from memory for at most this long (real seconds), and for no
# longer than verified tokens are trusted (auth_cache_seconds): a change made by another
# replica (discovery, removal) is seen within that time, like a rotated token. Connectivity
# does not depend on it: this process's heartbeats update its copy at once, and a command to
# a cluster whose copy looks disconnected reads the database again first.
VIEW_CACHE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class ClusterView:
    """What the hot path needs of a cluster (its discovery list stays in the database)."""

    id: str
    name: str
    transport: str
    security_mode: SecurityMode
    last_seen: datetime | None
    agent_version: str | None
    discovery_digest: str | None
    # Direct clusters: where the server finds its kubeconfig (None for tunnel clusters).
    kubeconfig_path: str | None = None
    kube_context: str | None = None


@dataclass(frozen=True, slots=True)
class ExecutorIdentity:
    """The heartbeat headers of one executor request."""

    cluster_id: str
    executor_id: str
    version: str | None
    inflight: int


@dataclass(frozen=True)
class IssuedToken:
    cluster: Cluster
    # The executor token; it exists only here and in the answer to the operator.
    token: str


def _view(row: Any) -> ClusterView:
    return ClusterView(
        id=row.id,
        name=row.name,
        transport=row.transport,
        security_mode=SecurityMode(row.security_mode),
        last_seen=row.last_seen,
        agent_version=row.agent_version,
        discovery_digest=row.discovery_digest,
        kubeconfig_path=row.kubeconfig_path,
        kube_context=row.kube_context,
    )


def _resource_ref(entry: dict[str, Any]) -> ResourceRef:
    return ResourceRef(
        plural=entry["plural"],
        singular=entry.get("singular") or entry["kind"].lower(),
        kind=entry["kind"],
        short_names=tuple(entry.get("short_names") or ()),
        group=entry.get("group") or "",
        namespaced=bool(entry.get("namespaced", True)),
        versions=tuple(entry.get("versions") or ()),
        categories=tuple(entry.get("categories") or ()),
    )


@functools.cache
def _heartbeat_statements(dialect_name: str) -> tuple[Executable, Executable]:
    """Upsert an executor's heartbeat; touch its cluster's ``last_seen`` (built once: they are
    written several times a second)."""
    insert = postgresql_insert if dialect_name == "postgresql" else sqlite_insert
    statement = insert(cast(Table, ClusterExecutor.__table__))
    upsert = statement.on_conflict_do_update(
        index_elements=[ClusterExecutor.cluster_id, ClusterExecutor.executor_id],
        set_={
            "version": statement.excluded.version,
            "inflight": statement.excluded.inflight,
            "last_seen": statement.excluded.last_seen,
        },
    )
    table = cast(Table, Cluster.__table__)
    touch = (
        update(table)
        .where(table.c.id == bindparam("_cluster"))
        .values(last_seen=bindparam("seen"), agent_version=bindparam("version"))
    )
    return upsert, touch


class ClusterRegistry:
    def __init__(self, database: Database, settings: Settings, *, clock: Clock = utc_now) -> None:
        self.database = database
        self.clock = clock
        self._stale = timedelta(seconds=settings.executor_stale_seconds)
        # Well inside the staleness limit, so that throttling never makes a live executor stale.
        self._heartbeat_interval = min(HEARTBEAT_WRITE_INTERVAL, self._stale / 4)
        self._token_cache_seconds = settings.auth_cache_seconds
        self._view_seconds = min(VIEW_CACHE_SECONDS, settings.auth_cache_seconds)
        self._default_mode = SecurityMode(settings.default_security_mode)
        # cluster id -> (valid until, (salt, hash) or None when the cluster has no token)
        self._tokens: dict[str, tuple[datetime, tuple[str, str] | None]] = {}
        # (cluster id, executor id) -> (written at, version) of the last heartbeat written
        self._heartbeats: dict[tuple[str, str], tuple[datetime, str | None]] = {}
        self._catalogs: dict[str, StaticResourceCatalog] = {}
        # (security mode, id of the catalog) -> (that catalog, its policy, which remembers decisions)
        self._policies: dict[tuple[SecurityMode, int], tuple[ResourceCatalog, CommandPolicy]] = {}
        # cluster id -> (valid until, on the monotonic clock; view)
        self._views: dict[str, tuple[float, ClusterView]] = {}
        # Heartbeats waiting for a batched write, and who to tell (None: written at once).
        self._pending_heartbeats: dict[tuple[str, str], dict[str, Any]] = {}
        self._heartbeat_nudge: Callable[[], None] | None = None
        # cluster id -> (time, version) of the newest heartbeat this process recorded
        self._seen: dict[str, tuple[datetime, str | None]] = {}

    # --- administration (API and CLI) ----------------------------------------------------

    async def add(
        self,
        session: AsyncSession,
        cluster_id: str,
        *,
        actor: Actor,
        name: str | None = None,
        security_mode: str | None = None,
    ) -> IssuedToken:
        """Register a tunnel cluster and issue its executor token."""
        cluster, token = await self._add(session, cluster_id, actor, name, security_mode, None, None)
        assert token is not None
        return IssuedToken(cluster=cluster, token=token)

    async def add_direct(
        self,
        session: AsyncSession,
        cluster_id: str,
        *,
        actor: Actor,
        kubeconfig_path: str,
        kube_context: str | None = None,
        name: str | None = None,
        security_mode: str | None = None,
    ) -> Cluster:
        """Register a Direct cluster: the server reaches it itself through a kubeconfig context."""
        cluster, _ = await self._add(
            session, cluster_id, actor, name, security_mode, kubeconfig_path, kube_context
        )
        return cluster

    async def _add(
        self,
        session: AsyncSession,
        cluster_id: str,
        actor: Actor,
        name: str | None,
        security_mode: str | None,
        kubeconfig_path: str | None,
        kube_context: str | None,
    ) -> tuple[Cluster, str | None]:
        if not is_valid_cluster_id(cluster_id):
            raise ValidationFailed(
                "Invalid cluster id",
                errors=[{"field": "cluster_id", "message": "must be lowercase alphanumeric with hyphens"}],
            )
        mode = self._security_mode(security_mode)
        if await session.get(Cluster, cluster_id) is not None:
            raise AlreadyExists(f"Cluster already exists: {cluster_id}", details={"cluster_id": cluster_id})
        now = self.clock()
        direct = kubeconfig_path is not None
        if direct:
            kubeconfig_path = check_kubeconfig(kubeconfig_path or "", kube_context)
        elif kube_context is not None:
            raise ValidationFailed(
                "A context needs a kubeconfig",
                errors=[{"field": "context", "message": "only Direct clusters (with a kubeconfig) have one"}],
            )
        transport = TRANSPORT_DIRECT if direct else TRANSPORT_TUNNEL
        token = None if direct else EXECUTOR_TOKEN_PREFIX + new_secret()
        salt = new_salt()
        cluster = Cluster(
            id=cluster_id,
            name=(name or cluster_id).strip()[:200] or cluster_id,
            transport=transport,
            security_mode=mode.value,
            kubeconfig_path=kubeconfig_path,
            kube_context=kube_context,
            token_salt=None if token is None else salt,
            token_hash=None if token is None else hash_secret(token, salt),
            created_at=now,
            token_rotated_at=None,
            last_seen=None,
            agent_version=None,
            discovery=None,
            discovery_digest=None,
            discovery_reported_at=None,
        )
        session.add(cluster)
        record(
            session,
            action=AuditAction.CLUSTER_ADD,
            outcome=AuditOutcome.SUCCESS,
            actor=actor,
            occurred_at=now,
            cluster_id=cluster_id,
            details={"security_mode": mode.value, "transport": transport, "context": kube_context},
        )
        await session.flush()
        return cluster, token

    async def rotate_token(self, session: AsyncSession, cluster_id: str, *, actor: Actor) -> IssuedToken:
        """A new executor token; the old one stops working (in other processes within the
        auth cache time)."""
        cluster = await self._row(session, cluster_id)
        if cluster.transport != TRANSPORT_TUNNEL:
            raise ValidationFailed(
                "Only tunnel clusters have executor tokens",
                errors=[{"field": "cluster_id", "message": f"{cluster_id} is a {cluster.transport} cluster"}],
            )
        now = self.clock()
        token = EXECUTOR_TOKEN_PREFIX + new_secret()
        cluster.token_salt = new_salt()
        cluster.token_hash = hash_secret(token, cluster.token_salt)
        cluster.token_rotated_at = now
        record(
            session,
            action=AuditAction.CLUSTER_ROTATE_TOKEN,
            outcome=AuditOutcome.SUCCESS,
            actor=actor,
            occurred_at=now,
            cluster_id=cluster_id,
        )
        await session.flush()
        self._forget(cluster_id)
        return IssuedToken(cluster=cluster, token=token)

    async def remove(self, session: AsyncSession, cluster_id: str, *, actor: Actor) -> None:
        """Forget a cluster and its executors. Sessions, commands and audit events keep its id."""
        await self._row(session, cluster_id)
        await session.execute(delete(Cluster).where(Cluster.id == cluster_id))
        record(
            session,
            action=AuditAction.CLUSTER_REMOVE,
            outcome=AuditOutcome.SUCCESS,
            actor=actor,
            occurred_at=self.clock(),
            cluster_id=cluster_id,
        )
        self._forget(cluster_id)

    async def all_clusters(self, session: AsyncSession) -> list[Cluster]:
        result = await session.execute(select(Cluster).order_by(Cluster.id))
        return list(result.scalars())

    async def executors(self, session: AsyncSession, cluster_id: str) -> list[ClusterExecutor]:
        result = await session.execute(
            select(ClusterExecutor)
            .where(ClusterExecutor.cluster_id == cluster_id)
            .order_by(ClusterExecutor.last_seen.desc())
        )
        return list(result.scalars())

    async def discovery_summary(
        self, session: AsyncSession, cluster_id: str
    ) -> tuple[int, datetime | None] | None:
        """How many resource types the executor reported and when; None if it never did."""
        row = (
            await session.execute(
                select(Cluster.discovery, Cluster.discovery_reported_at).where(Cluster.id == cluster_id)
            )
        ).one_or_none()
        if row is None or row.discovery is None:
            return None
        return len(row.discovery), row.discovery_reported_at

    # --- lookups -------------------------------------------------------------------------

    async def view(self, cluster_id: str, session: AsyncSession | None = None) -> ClusterView:
        """The cluster, or 404 CLUSTER_NOT_FOUND."""
        statement = select(
            Cluster.id,
            Cluster.name,
            Cluster.transport,
            Cluster.security_mode,
            Cluster.last_seen,
            Cluster.agent_version,
            Cluster.discovery_digest,
            Cluster.kubeconfig_path,
            Cluster.kube_context,
        ).where(Cluster.id == cluster_id)
        if session is None:
            async with self.database.session() as own:
                row = (await own.execute(statement)).one_or_none()
        else:
            row = (await session.execute(statement)).one_or_none()
        if row is None:
            raise NotFound.of("cluster", cluster_id)
        return self._with_heartbeat(_view(row))

    async def cached_view(self, cluster_id: str) -> ClusterView:
        """``view``, from memory when read less than ``VIEW_CACHE_SECONDS`` ago (commands
        look their cluster up on every request)."""
        now = time.monotonic()
        cached = self._views.get(cluster_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        view = await self.view(cluster_id)
        self._views[cluster_id] = (now + self._view_seconds, view)
        return view

    def _forget(self, cluster_id: str) -> None:
        self._tokens.pop(cluster_id, None)
        self._views.pop(cluster_id, None)

    def is_connected(self, last_seen: datetime | None) -> bool:
        return last_seen is not None and self.clock() - last_seen <= self._stale

    async def policy_for(self, cluster: ClusterView) -> CommandPolicy:
        """The server's copy of the command policy for this cluster: its security mode and its
        reported resource types (the built-in ones until the executor reports discovery)."""
        catalog = await self._catalog(cluster)
        # The entry holds its catalog, so no other catalog can have its id meanwhile.
        key = (cluster.security_mode, id(catalog))
        cached = self._policies.get(key)
        if cached is None:
            if len(self._policies) >= _MAX_CACHED_POLICIES:
                self._policies.clear()
            policy = CommandPolicy(cluster.security_mode, catalog, remember=REMEMBERED_DECISIONS)
            cached = self._policies[key] = (catalog, policy)
        return cached[1]

    async def _catalog(self, cluster: ClusterView) -> ResourceCatalog:
        digest = cluster.discovery_digest
        if digest is None:
            return builtin_catalog()
        catalog = self._catalogs.get(digest)
        if catalog is None:
            async with self.database.session() as session:
                entries = await session.scalar(select(Cluster.discovery).where(Cluster.id == cluster.id))
            if not entries:
                return builtin_catalog()
            catalog = StaticResourceCatalog(_resource_ref(entry) for entry in entries)
            if len(self._catalogs) >= _MAX_CACHED_CATALOGS:
                self._catalogs.clear()
            self._catalogs[digest] = catalog
        return catalog

    # --- executors (tunnel) --------------------------------------------------------------

    async def authenticate_executor(self, cluster_id: str, token: str) -> None:
        """401 unless ``token`` is the executor token of ``cluster_id``."""
        now = self.clock()
        cached = self._tokens.get(cluster_id)
        if cached is None or cached[0] <= now:
            async with self.database.session() as session:
                row = (
                    await session.execute(
                        select(Cluster.token_salt, Cluster.token_hash).where(Cluster.id == cluster_id)
                    )
                ).one_or_none()
            secret = (row.token_salt, row.token_hash) if row is not None and row.token_hash else None
            cached = (now + timedelta(seconds=self._token_cache_seconds), secret)
            if self._token_cache_seconds > 0:
                self._tokens[cluster_id] = cached
        secret = cached[1]
        if secret is None or not secret_matches(token, secret[0], secret[1]):
            raise Unauthorized("Invalid executor token or cluster id")

    async def record_heartbeat(self, executor: ExecutorIdentity) -> None:
        now = self.clock()
        key = (executor.cluster_id, executor.executor_id)
        last = self._heartbeats.get(key)
        if last is not None and now - last[0] < self._heartbeat_interval and last[1] == executor.version:
            return
        values = {
            "cluster_id": executor.cluster_id,
            "executor_id": executor.executor_id,
            "version": executor.version,
            "inflight": executor.inflight,
            "first_seen": now,
            "last_seen": now,
        }
        if self._heartbeat_nudge is not None and last is not None and last[1] == executor.version:
            # A refresh of a known executor: batched, written with the next group commit (see
            # defer_heartbeats). A new executor or version is written at once, so that everyone
            # reading the database sees it connected as soon as it has answered.
            self._pending_heartbeats[key] = values
            self._heartbeat_nudge()
        else:
            async with self.database.session() as session:
                await self._write_heartbeats(await session.connection(), [values])
        self._heartbeats[key] = (now, executor.version)
        self._seen[executor.cluster_id] = (now, executor.version)
        cached = self._views.get(executor.cluster_id)
        if cached is not None:
            view = replace(cached[1], last_seen=now, agent_version=executor.version)
            self._views[executor.cluster_id] = (cached[0], view)

    def _with_heartbeat(self, view: ClusterView) -> ClusterView:
        """``view`` (read from the database) with this process's newest heartbeat of the cluster,
        which may not be written yet."""
        seen = self._seen.get(view.id)
        if seen is not None and (view.last_seen is None or seen[0] > view.last_seen):
            return replace(view, last_seen=seen[0], agent_version=seen[1])
        return view

    # Heartbeats written in batches: a server with a thousand executors would otherwise write a
    # transaction per executor every few seconds. Written within the batch delay (well under a
    # second); the process's own views see a heartbeat at once.

    def defer_heartbeats(self, nudge: Callable[[], None]) -> None:
        """From now on stage heartbeats and call ``nudge``; someone must then write them with
        ``take_heartbeats`` and ``heartbeat_statements`` (the command writer does)."""
        self._heartbeat_nudge = nudge

    def take_heartbeats(self) -> list[dict[str, Any]] | None:
        if not self._pending_heartbeats:
            return None
        pending = list(self._pending_heartbeats.values())
        self._pending_heartbeats = {}
        return pending

    def restore_heartbeats(self, items: list[dict[str, Any]]) -> None:
        for values in items:
            self._pending_heartbeats.setdefault((values["cluster_id"], values["executor_id"]), values)

    def heartbeat_statements(
        self, items: list[dict[str, Any]]
    ) -> list[tuple[Executable, list[dict[str, Any]]]]:
        """The statements (with their parameter lists) that write ``items``, on any connection."""
        upsert, touch = _heartbeat_statements(self.database.dialect_name)
        # The newest heartbeat of each cluster.
        clusters: dict[str, dict[str, Any]] = {}
        for values in items:
            latest = clusters.get(values["cluster_id"])
            if latest is None or values["last_seen"] >= latest["seen"]:
                clusters[values["cluster_id"]] = {
                    "_cluster": values["cluster_id"],
                    "seen": values["last_seen"],
                    "version": values["version"],
                }
        return [(upsert, items), (touch, list(clusters.values()))]

    async def _write_heartbeats(self, connection: AsyncConnection, items: list[dict[str, Any]]) -> None:
        for statement, parameters in self.heartbeat_statements(items):
            await connection.execute(statement, parameters)

    async def record_discovery(self, cluster_id: str, resources: Sequence[dict[str, Any]]) -> int:
        """Store an executor's resource list; the server's policy uses it from then on."""
        core = {entry["plural"] for entry in resources if not entry.get("group")}
        missing = _REQUIRED_CORE_RESOURCES - core
        if missing:
            raise ValidationFailed(
                "Discovery lacks core resource types",
                errors=[
                    {"field": "resources", "message": f"missing core types: {', '.join(sorted(missing))}"}
                ],
            )
        entries = [dict(entry) for entry in resources]
        digest = hashlib.sha256(orjson.dumps(entries, option=orjson.OPT_SORT_KEYS)).hexdigest()
        async with self.database.session() as session:
            cluster = await self._row(session, cluster_id)
            if cluster.discovery_digest != digest:
                cluster.discovery = entries
                cluster.discovery_digest = digest
            cluster.discovery_reported_at = self.clock()
        self._views.pop(cluster_id, None)
        return len(entries)

    # --- helpers -------------------------------------------------------------------------

    def _security_mode(self, value: str | None) -> SecurityMode:
        if value is None:
            return self._default_mode
        try:
            return SecurityMode(value)
        except ValueError:
            known = ", ".join(mode.value for mode in SecurityMode)
            raise ValidationFailed(
                "Invalid security mode",
                errors=[{"field": "security_mode", "message": f"must be one of {known}"}],
            ) from None

    @staticmethod
    async def _row(session: AsyncSession, cluster_id: str) -> Cluster:
        cluster = await session.get(Cluster, cluster_id)
        if cluster is None:
            raise NotFound.of("cluster", cluster_id)
        return cluster


def check_kubeconfig(path: str, context: str | None) -> str:
    """The absolute path of a readable kubeconfig that has ``context`` (or a current context);
    ValidationFailed otherwise. The server reads the file again whenever it connects."""
    resolved = Path(path).expanduser().resolve()
    try:
        contexts, current = list_kube_config_contexts(str(resolved))
    except Exception as exc:  # missing file, bad YAML, no contexts: all the operator's to fix
        raise ValidationFailed(
            "Unreadable kubeconfig", errors=[{"field": "kubeconfig", "message": f"{resolved}: {exc}"}]
        ) from exc
    names = [entry.get("name") for entry in contexts]
    if context is None and current is None:
        raise ValidationFailed(
            "The kubeconfig has no current context",
            errors=[{"field": "context", "message": f"choose one of: {', '.join(map(str, names))}"}],
        )
    if context is not None and context not in names:
        raise ValidationFailed(
            "Unknown kubeconfig context",
            errors=[{"field": "context", "message": f"{context!r} is not in {resolved}; it has {names}"}],
        )
    return str(resolved)
