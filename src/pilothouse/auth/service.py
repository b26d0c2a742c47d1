"""API keys: creation (shown once), listing, revocation, and verification of presented keys.

A key reads ``ph_<key id>_<secret>``. The key id is public and finds the row; the secret is
checked against a salted SHA-256 (see ``hashing``). Verified rows are cached in memory for
``cache_seconds`` so that authenticating a request costs a dictionary lookup and one hash;
revoking a key in this process drops it from the cache at once, other processes notice
within ``cache_seconds``.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pilothouse.audit.clock import Clock, utc_now
from pilothouse.audit.service import Actor, AuditAction, AuditOutcome, record
from pilothouse.auth.hashing import hash_secret, new_salt, new_secret, secret_matches
from pilothouse.auth.models import ApiKey
from pilothouse.auth.principal import Principal, Scope, parse_scopes
from pilothouse.clusters.ids import is_valid_cluster_id
from pilothouse.errors import Forbidden, InsufficientScope, NotFound, Unauthorized, ValidationFailed
from pilothouse.observability.logging import get_logger
from pilothouse.settings import ConfigurationError
from pilothouse.store.database import Database

log = get_logger(__name__)

KEY_PREFIX = "ph"
# Key ids are generated as 16 hex digits; a bootstrap key may choose its own (no underscore,
# which separates the parts).
_KEY_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_MAX_SECRET_CHARS = 256
BOOTSTRAP_MIN_SECRET_CHARS = 32
BOOTSTRAP_KEY_NAME = "bootstrap-admin"


def format_key(key_id: str, secret: str) -> str:
    return f"{KEY_PREFIX}_{key_id}_{secret}"


def parse_key(presented: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of a well-formed key, else None."""
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not _KEY_ID.fullmatch(key_id) or not 0 < len(secret) <= _MAX_SECRET_CHARS:
        return None
    return key_id, secret


@dataclass(frozen=True)
class CreatedKey:
    row: ApiKey
    # The full key; it exists only in this object and in the answer to its creator.
    plaintext: str


def validate_key_fields(
    name: str, scopes: Iterable[str], clusters: Iterable[str] | None
) -> tuple[str, frozenset[Scope], list[str] | None]:
    """Normalised name, scopes and allowlist; ValidationFailed names every bad field."""
    errors: list[dict[str, str]] = []
    clean_name = name.strip()
    if not clean_name or len(clean_name) > 200:
        errors.append({"field": "name", "message": "must be 1-200 characters"})
    try:
        clean_scopes = parse_scopes(scopes)
    except ValueError as exc:
        errors.append({"field": "scopes", "message": str(exc)})
        clean_scopes = frozenset()
    else:
        if not clean_scopes:
            errors.append({"field": "scopes", "message": "at least one scope is required"})
    allowlist: list[str] | None = None
    if clusters is not None:
        allowlist = sorted({cluster.strip() for cluster in clusters if cluster.strip()})
        bad = [cluster for cluster in allowlist if not is_valid_cluster_id(cluster)]
        if bad:
            errors.append({"field": "clusters", "message": f"not valid cluster ids: {', '.join(bad)}"})
        if not allowlist:
            errors.append({"field": "clusters", "message": "an allowlist must name at least one cluster"})
    if errors:
        raise ValidationFailed("Invalid API key settings", errors=errors)
    return clean_name, clean_scopes, allowlist


def _sorted_scopes(scopes: Iterable[Scope]) -> list[str]:
    order = list(Scope)
    return [scope.value for scope in sorted(scopes, key=order.index)]


async def create_key(
    session: AsyncSession,
    *,
    name: str,
    scopes: Iterable[str],
    clusters: Iterable[str] | None,
    actor: Actor,
    now: datetime,
    key_id: str | None = None,
    secret: str | None = None,
) -> CreatedKey:
    """A new key, audited. ``key_id`` and ``secret`` are given only for the bootstrap key."""
    clean_name, clean_scopes, allowlist = validate_key_fields(name, scopes, clusters)
    key_id = key_id or new_key_id()
    secret = secret or new_secret()
    salt = new_salt()
    row = ApiKey(
        id=key_id,
        name=clean_name,
        secret_salt=salt,
        secret_hash=hash_secret(secret, salt),
        scopes=_sorted_scopes(clean_scopes),
        clusters=allowlist,
        created_at=now,
        created_by=actor.name,
        revoked_at=None,
    )
    session.add(row)
    record(
        session,
        action=AuditAction.KEY_CREATE,
        outcome=AuditOutcome.SUCCESS,
        actor=actor,
        occurred_at=now,
        details={"key_id": key_id, "name": clean_name, "scopes": row.scopes, "clusters": allowlist},
    )
    await session.flush()
    return CreatedKey(row=row, plaintext=format_key(key_id, secret))


def new_key_id() -> str:
    return secrets.token_hex(8)


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    result = await session.execute(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id))
    return list(result.scalars())


async def revoke_key(session: AsyncSession, key_id: str, *, actor: Actor, now: datetime) -> ApiKey:
    """Revoke a key (idempotent: revoking again changes and audits nothing)."""
    row = await session.get(ApiKey, key_id)
    if row is None:
        raise NotFound.of("api_key", key_id)
    if row.revoked_at is None:
        row.revoked_at = now
        record(
            session,
            action=AuditAction.KEY_REVOKE,
            outcome=AuditOutcome.SUCCESS,
            actor=actor,
            occurred_at=now,
            details={"key_id": key_id, "name": row.name},
        )
        await session.flush()
    return row


@dataclass(frozen=True, slots=True)
class _VerifiedKey:
    """What the cache keeps of a row: enough to check a secret and build a principal."""

    salt: str
    secret_hash: str
    name: str
    scopes: frozenset[Scope]
    clusters: frozenset[str] | None
    revoked: bool

    @classmethod
    def of(cls, row: ApiKey) -> _VerifiedKey:
        return cls(
            salt=row.secret_salt,
            secret_hash=row.secret_hash,
            name=row.name,
            scopes=parse_scopes(row.scopes),
            clusters=frozenset(row.clusters) if row.clusters is not None else None,
            revoked=row.revoked_at is not None,
        )


class Authenticator:
    """Turns a presented API key into a :class:`Principal`, or raises 401."""

    def __init__(
        self,
        database: Database,
        *,
        cache_seconds: float = 30.0,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        max_cached: int = 10_000,
    ) -> None:
        self.database = database
        self.clock = clock
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._max_cached = max_cached
        # key id -> (valid until, row or None for "no such key"). Caching misses too keeps a
        # stream of made-up key ids from costing a query each; a new key has a new random id,
        # so a cached miss never hides a key that was just created.
        self._cache: dict[str, tuple[float, _VerifiedKey | None]] = {}

    async def authenticate(self, presented: str | None, *, service_identity: str | None = None) -> Principal:
        if not presented:
            raise Unauthorized("Missing API key: send X-API-Key or Authorization: Bearer")
        parsed = parse_key(presented)
        if parsed is None:
            raise Unauthorized("Invalid API key")
        key_id, secret = parsed
        verified = await self._lookup(key_id)
        if verified is None or not secret_matches(secret, verified.salt, verified.secret_hash):
            raise Unauthorized("Invalid API key")
        if verified.revoked:
            raise Unauthorized("API key revoked")
        return Principal(
            key_id=key_id,
            name=verified.name,
            scopes=verified.scopes,
            clusters=verified.clusters,
            service_identity=service_identity,
        )

    def invalidate(self, key_id: str) -> None:
        self._cache.pop(key_id, None)

    async def _lookup(self, key_id: str) -> _VerifiedKey | None:
        now = self._monotonic()
        cached = self._cache.get(key_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self.database.session() as session:
            row = await session.get(ApiKey, key_id)
            verified = _VerifiedKey.of(row) if row is not None else None
        if len(self._cache) >= self._max_cached:
            # Crude but bounded; the cache refills from the keys actually in use.
            self._cache.clear()
        if self._cache_seconds > 0:
            self._cache[key_id] = (now + self._cache_seconds, verified)
        return verified

    async def ensure_bootstrap_key(self, presented: str) -> None:
        """Create the admin key given in ``PILOTHOUSE_BOOTSTRAP_ADMIN_KEY`` unless it exists.

        An existing row with the same id must hold the same secret; a revoked bootstrap key
        stays revoked (remove the variable, or choose another key id).
        """
        parsed = parse_key(presented)
        if parsed is None or len(parsed[1]) < BOOTSTRAP_MIN_SECRET_CHARS:
            raise ConfigurationError(
                "PILOTHOUSE_BOOTSTRAP_ADMIN_KEY must look like ph_<key id>_<secret> with a secret of "
                f"at least {BOOTSTRAP_MIN_SECRET_CHARS} characters, e.g. "
                "python -c \"import secrets; print('ph_bootstrap_' + secrets.token_urlsafe(32))\""
            )
        key_id, secret = parsed
        try:
            async with self.database.session() as session:
                existing = await session.get(ApiKey, key_id)
                if existing is None:
                    await create_key(
                        session,
                        name=BOOTSTRAP_KEY_NAME,
                        scopes=[Scope.ADMIN],
                        clusters=None,
                        actor=Actor(key_id=None, name="bootstrap"),
                        now=self.clock(),
                        key_id=key_id,
                        secret=secret,
                    )
                    log.info("bootstrap_admin_key_created", key_id=key_id)
                    return
        except IntegrityError:
            # Another replica created it first; check what it created.
            async with self.database.session() as session:
                existing = await session.get(ApiKey, key_id)
        if existing is None:
            raise ConfigurationError(f"could not create the bootstrap key {key_id}")
        if not secret_matches(secret, existing.secret_salt, existing.secret_hash):
            raise ConfigurationError(
                f"PILOTHOUSE_BOOTSTRAP_ADMIN_KEY: key id {key_id} already exists with another secret"
            )
        if existing.revoked_at is not None:
            log.warning("bootstrap_admin_key_revoked", key_id=key_id)


class AccessGuard:
    """Scope and cluster-allowlist checks that audit every denial before refusing."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self.database = database
        self.clock = clock

    async def require_scope(
        self, principal: Principal, scope: Scope, *, cluster_id: str | None = None
    ) -> None:
        if principal.has_scope(scope):
            return
        await self._audit_denial(
            principal,
            f"missing scope {scope.value}",
            cluster_id=cluster_id,
            details={"required_scope": scope.value},
        )
        raise InsufficientScope(scope.value, details={"scopes": sorted(principal.scopes)})

    async def require_cluster(self, principal: Principal, cluster_id: str) -> None:
        if principal.may_access_cluster(cluster_id):
            return
        # A JWT naming a cluster_id is confined to it as a key is to its allowlist.
        credential = "token" if principal.is_jwt else "API key"
        await self._audit_denial(
            principal, f"cluster {cluster_id} is not in the {credential}'s allowlist", cluster_id=cluster_id
        )
        raise Forbidden(
            f"This {credential} may not access cluster {cluster_id}",
            details={"cluster_id": cluster_id, "allowed_clusters": sorted(principal.clusters or ())},
        )

    async def _audit_denial(
        self,
        principal: Principal,
        reason: str,
        *,
        cluster_id: str | None,
        details: dict[str, str] | None = None,
    ) -> None:
        async with self.database.session() as session:
            record(
                session,
                action=AuditAction.AUTH_DENIED,
                outcome=AuditOutcome.DENIED,
                actor=principal.actor(),
                occurred_at=self.clock(),
                cluster_id=cluster_id,
                reason=reason,
                details=details,
            )
