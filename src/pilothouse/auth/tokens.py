"""Bearer JWTs (Kubilitics section 1): issuing, verifying and revoking them.

Tokens are HS256 JWTs signed with ``settings.jwt_secret``, so every replica that shares the
secret verifies every token without a database round trip. Claims:

``sub``, ``iat``, ``exp``, ``jti`` (required)
    Who the token acts for, when it was issued and expires (epoch seconds), and a random id
    that names it for revocation. A token without a ``jti`` could not be revoked, so it is
    refused.
``scope`` (required)
    Comma-separated scopes (``"read,write"``); a JSON list of names is accepted as well.
``kind``
    ``user`` (default), ``service`` or ``admin``: sets the default lifetime (24 h, 7 days,
    90 days) and the rate-limit multiplier. An admin token must carry the admin scope.
``cluster_id``, ``namespace`` (optional)
    The only cluster the token may be used for, and the bearer's default namespace.

Only ``HS256`` is accepted (``alg: none``, RS256 and the rest are refused before anything
else is looked at), with ``LEEWAY_SECONDS`` of clock skew, and no token may live longer than
``MAX_LIFETIME`` - which is also how long a revocation must be remembered.

Revocation: a ``revoked_tokens`` row per ``jti``. Each process keeps the set of revoked ids
in memory and reloads it from the database when it is older than ``refresh_seconds``
(``auth_cache_seconds``, 30 s: the spec's propagation bound); a revocation made in this
process applies at once. Rows are purged once the token they name has expired.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from pilothouse.audit.clock import Clock, as_utc, isoformat, utc_now
from pilothouse.audit.service import Actor, AuditAction, AuditOutcome, record
from pilothouse.auth.models import RevokedToken
from pilothouse.auth.principal import Principal, Scope, TokenKind, parse_scopes
from pilothouse.clusters.ids import is_valid_cluster_id
from pilothouse.errors import InvalidToken, ServiceUnavailable, TokenExpired, TokenRevoked, ValidationFailed
from pilothouse.observability.logging import get_logger
from pilothouse.store.database import Database

log = get_logger(__name__)

JWT_ALGORITHM = "HS256"
# The one list handed to every decode: PyJWT then refuses any other "alg" in the header.
_ALGORITHMS = [JWT_ALGORITHM]
# Clock skew tolerated between the issuer, the verifier and the client.
LEEWAY_SECONDS = 10
REQUIRED_CLAIMS = ("sub", "exp", "iat", "jti", "scope")

JWT_KINDS = (TokenKind.USER, TokenKind.SERVICE, TokenKind.ADMIN)
DEFAULT_LIFETIMES: dict[TokenKind, timedelta] = {
    TokenKind.USER: timedelta(hours=24),
    TokenKind.SERVICE: timedelta(days=7),
    TokenKind.ADMIN: timedelta(days=90),
}
MAX_LIFETIME = max(DEFAULT_LIFETIMES.values())
# Rows are kept (and loaded) this long past their token's expiry, so that neither the leeway
# nor a replica whose clock runs behind can bring a revoked token back.
_RETENTION_MARGIN = timedelta(minutes=5)

MAX_SUB_CHARS = 200
MAX_REASON_CHARS = 500
# Room for the random ids we issue (22 characters) and for others' UUIDs; the column is 64.
JTI_PATTERN = r"[A-Za-z0-9_.:-]{1,64}"
_JTI = re.compile(JTI_PATTERN)
# A Kubernetes namespace: an RFC 1123 label.
NAMESPACE_PATTERN = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_NAMESPACE = re.compile(NAMESPACE_PATTERN)
_SCOPE_SEPARATORS = re.compile(r"[,\s]+")
# Principal.key_id is stored in 64-character columns (sessions, commands, audit).
_KEY_ID_CHARS = 64
_KEY_ID_PREFIX = "jwt:"


def looks_like_jwt(presented: str) -> bool:
    """Three dot-separated parts: worth decoding as a JWT (API keys contain no dots)."""
    return presented.count(".") == 2


def principal_key_id(sub: str) -> str:
    """The ``Principal.key_id`` of a JWT's subject: ``jwt:<sub>``, hashed if too long.

    The prefix keeps subjects apart from API key ids (which never contain ``:``), so a
    subject named like a key id shares neither its sessions nor its rate limits.
    """
    key_id = f"{_KEY_ID_PREFIX}{sub}"
    if len(key_id) <= _KEY_ID_CHARS:
        return key_id
    digest = hashlib.sha256(sub.encode()).hexdigest()
    return f"{_KEY_ID_PREFIX}{digest[: _KEY_ID_CHARS - len(_KEY_ID_PREFIX)]}"


def scope_string(scopes: Iterable[Scope]) -> str:
    """Scopes as the ``scope`` claim writes them, in the canonical order."""
    order = list(Scope)
    return ",".join(scope.value for scope in sorted(set(scopes), key=order.index))


def _valid_sub(sub: str) -> bool:
    # No control characters: the subject ends up in logs and the audit trail.
    return 0 < len(sub) <= MAX_SUB_CHARS and not any(
        unicodedata.category(char).startswith("C") for char in sub
    )


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """The validated claims of one token."""

    sub: str
    scopes: frozenset[Scope]
    kind: TokenKind
    jti: str
    issued_at: datetime
    expires_at: datetime
    cluster_id: str | None = None
    namespace: str | None = None

    @property
    def scope(self) -> str:
        return scope_string(self.scopes)

    def payload(self) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "sub": self.sub,
            "iat": int(self.issued_at.timestamp()),
            "exp": int(self.expires_at.timestamp()),
            "jti": self.jti,
            "scope": self.scope,
            "kind": self.kind.value,
        }
        if self.cluster_id is not None:
            claims["cluster_id"] = self.cluster_id
        if self.namespace is not None:
            claims["namespace"] = self.namespace
        return claims

    def principal(self, *, service_identity: str | None = None) -> Principal:
        return Principal(
            key_id=principal_key_id(self.sub),
            name=self.sub,
            scopes=self.scopes,
            clusters=frozenset({self.cluster_id}) if self.cluster_id is not None else None,
            service_identity=service_identity,
            namespace=self.namespace,
            token_kind=self.kind,
            token_id=self.jti,
        )


@dataclass(frozen=True, slots=True)
class IssuedToken:
    # The signed token; it exists only here and in the answer to whoever asked for it.
    token: str
    claims: TokenClaims


def new_claims(
    *,
    sub: str,
    scopes: Iterable[str],
    kind: str = TokenKind.USER,
    cluster_id: str | None = None,
    namespace: str | None = None,
    ttl_seconds: int | None = None,
    now: datetime,
) -> TokenClaims:
    """Claims for a new token; ValidationFailed (422) names every bad field."""
    errors: list[dict[str, str]] = []
    clean_sub = sub.strip()
    if not _valid_sub(clean_sub):
        errors.append({"field": "sub", "message": f"must be 1-{MAX_SUB_CHARS} printable characters"})
    try:
        token_kind = TokenKind(kind)
        if token_kind not in JWT_KINDS:
            raise ValueError(kind)
    except ValueError:
        errors.append({"field": "kind", "message": "must be one of user, service, admin"})
        token_kind = TokenKind.USER
    try:
        clean_scopes = parse_scopes(scopes)
    except ValueError as exc:
        errors.append({"field": "scopes", "message": str(exc)})
        clean_scopes = frozenset()
    else:
        if not clean_scopes:
            errors.append({"field": "scopes", "message": "at least one scope is required"})
    if token_kind is TokenKind.ADMIN and clean_scopes and Scope.ADMIN not in clean_scopes:
        errors.append({"field": "scopes", "message": "an admin token must have the admin scope"})
    if cluster_id is not None and not is_valid_cluster_id(cluster_id):
        errors.append({"field": "cluster_id", "message": "not a valid cluster id"})
    if namespace is not None and not _NAMESPACE.fullmatch(namespace):
        errors.append({"field": "namespace", "message": "not a valid Kubernetes namespace name"})
    lifetime = DEFAULT_LIFETIMES[token_kind]
    if ttl_seconds is not None:
        if not 0 < ttl_seconds <= MAX_LIFETIME.total_seconds():
            errors.append(
                {"field": "ttl_seconds", "message": f"must be 1-{int(MAX_LIFETIME.total_seconds())} seconds"}
            )
        else:
            lifetime = timedelta(seconds=ttl_seconds)
    if errors:
        raise ValidationFailed("Invalid token settings", errors=errors)
    # Whole seconds: the claims are integers, and the answer should state the true expiry.
    issued_at = as_utc(now).replace(microsecond=0)
    return TokenClaims(
        sub=clean_sub,
        scopes=clean_scopes,
        kind=token_kind,
        jti=new_jti(),
        issued_at=issued_at,
        expires_at=issued_at + lifetime,
        cluster_id=cluster_id,
        namespace=namespace,
    )


def new_jti() -> str:
    return secrets.token_urlsafe(16)


def encode_token(claims: TokenClaims, secret: str) -> str:
    return jwt.encode(claims.payload(), secret, algorithm=JWT_ALGORITHM, headers={"typ": "JWT"})


def decode_token(token: str, secret: str, *, leeway: float = LEEWAY_SECONDS) -> TokenClaims:
    """The claims of a well-signed, unexpired token; InvalidToken or TokenExpired otherwise.

    The revocation list is not consulted here (see :class:`TokenVerifier`).
    """
    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=_ALGORITHMS,
            leeway=leeway,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired() from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"Invalid bearer token: missing claim {exc.claim!r}") from None
    except jwt.InvalidAlgorithmError:
        raise InvalidToken(f"Invalid bearer token: only {JWT_ALGORITHM} tokens are accepted") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("Invalid bearer token: bad signature") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("Invalid bearer token: issued in the future") from None
    except jwt.InvalidTokenError:
        # Not three base64url parts of JSON, or claims of the wrong type; PyJWT's message can
        # quote the input, so it is not passed on.
        raise InvalidToken("Invalid bearer token: malformed") from None
    return _claims_of(payload, leeway=leeway)


def _claims_of(payload: dict[str, Any], *, leeway: float) -> TokenClaims:
    """Checks of our own claims, after PyJWT has checked signature, exp, iat and types."""

    def invalid(what: str) -> InvalidToken:
        return InvalidToken(f"Invalid bearer token: {what}")

    sub, jti = payload["sub"], payload["jti"]
    if not isinstance(sub, str) or not _valid_sub(sub):
        raise invalid("bad 'sub' claim")
    if not isinstance(jti, str) or not _JTI.fullmatch(jti):
        raise invalid("bad 'jti' claim")
    issued_at, expires_at = _moment(payload["iat"]), _moment(payload["exp"])
    if issued_at is None or expires_at is None:
        # PyJWT accepts anything int() takes, strings included; the spec says Unix times.
        raise invalid("'iat' and 'exp' must be numeric")
    # Revocations are remembered for MAX_LIFETIME; a longer-lived token would outlive its
    # revocation, so none is accepted even with a valid signature.
    if expires_at - issued_at > MAX_LIFETIME + timedelta(seconds=leeway):
        raise invalid(f"lifetime exceeds {MAX_LIFETIME.days} days")
    try:
        kind = TokenKind(payload.get("kind", TokenKind.USER))
    except ValueError:
        raise invalid("bad 'kind' claim") from None
    if kind not in JWT_KINDS:
        raise invalid("bad 'kind' claim")
    scopes = _scopes_claim(payload["scope"])
    if scopes is None:
        raise invalid("bad 'scope' claim")
    if kind is TokenKind.ADMIN and Scope.ADMIN not in scopes:
        raise invalid("an admin token must have the admin scope")
    cluster_id = payload.get("cluster_id")
    if cluster_id is not None and not (isinstance(cluster_id, str) and is_valid_cluster_id(cluster_id)):
        raise invalid("bad 'cluster_id' claim")
    namespace = payload.get("namespace")
    if namespace is not None and not (isinstance(namespace, str) and _NAMESPACE.fullmatch(namespace)):
        raise invalid("bad 'namespace' claim")
    return TokenClaims(
        sub=sub,
        scopes=scopes,
        kind=kind,
        jti=jti,
        issued_at=issued_at,
        expires_at=expires_at,
        cluster_id=cluster_id,
        namespace=namespace,
    )


def _moment(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _scopes_claim(value: Any) -> frozenset[Scope] | None:
    """``"read,write"`` (also space-separated, as OAuth writes it), or a list of names."""
    names: list[Any]
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            # A JSON list sent as a string by a client that serialised it twice.
            try:
                decoded = json.loads(stripped)
            except ValueError:
                return None
            if not isinstance(decoded, list):
                return None
            names = decoded
        else:
            names = _SCOPE_SEPARATORS.split(stripped)
    elif isinstance(value, list):
        names = value
    else:
        return None
    if not all(isinstance(name, str) for name in names):
        return None
    try:
        return parse_scopes(names)
    except ValueError:
        return None


async def issue_token(
    session: AsyncSession,
    *,
    secret: str,
    sub: str,
    scopes: Iterable[str],
    kind: str = TokenKind.USER,
    cluster_id: str | None = None,
    namespace: str | None = None,
    ttl_seconds: int | None = None,
    actor: Actor,
    now: datetime,
) -> IssuedToken:
    """A new signed token, with its issue recorded in the audit trail (never the token)."""
    claims = new_claims(
        sub=sub,
        scopes=scopes,
        kind=kind,
        cluster_id=cluster_id,
        namespace=namespace,
        ttl_seconds=ttl_seconds,
        now=now,
    )
    token = encode_token(claims, secret)
    record(
        session,
        action=AuditAction.TOKEN_ISSUE,
        outcome=AuditOutcome.SUCCESS,
        actor=actor,
        occurred_at=now,
        cluster_id=claims.cluster_id,
        details={
            "jti": claims.jti,
            "sub": claims.sub,
            "kind": claims.kind.value,
            "scope": claims.scope,
            "cluster_id": claims.cluster_id,
            "namespace": claims.namespace,
            "expires_at": isoformat(claims.expires_at),
        },
    )
    await session.flush()
    return IssuedToken(token=token, claims=claims)


def validate_jti(jti: str) -> str:
    if not _JTI.fullmatch(jti):
        raise ValidationFailed(
            "Invalid token id", errors=[{"field": "jti", "message": f"must match {JTI_PATTERN}"}]
        )
    return jti


async def revoke_token(
    session: AsyncSession,
    jti: str,
    *,
    actor: Actor,
    now: datetime,
    reason: str | None = None,
    expires_at: datetime | None = None,
) -> RevokedToken:
    """Revoke the token ``jti`` (idempotent: revoking again changes and audits nothing).

    Tokens are not stored, so the caller may not know when this one expires; without
    ``expires_at`` the row is kept for the longest lifetime any token can have. Rows of
    tokens that have expired anyway are purged on the way.
    """
    validate_jti(jti)
    if reason is not None:
        reason = reason.strip()[:MAX_REASON_CHARS] or None
    await session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now - _RETENTION_MARGIN))
    row = await session.get(RevokedToken, jti)
    if row is not None:
        return row
    row = RevokedToken(
        jti=jti,
        revoked_at=now,
        expires_at=as_utc(expires_at) if expires_at is not None else now + MAX_LIFETIME,
        revoked_by=actor.name,
        reason=reason,
    )
    session.add(row)
    record(
        session,
        action=AuditAction.TOKEN_REVOKE,
        outcome=AuditOutcome.SUCCESS,
        actor=actor,
        occurred_at=now,
        reason=reason,
        details={"jti": jti, "expires_at": isoformat(row.expires_at)},
    )
    await session.flush()
    return row


async def list_revoked(session: AsyncSession) -> list[RevokedToken]:
    """Revocations still on record, newest first."""
    result = await session.execute(
        select(RevokedToken).order_by(RevokedToken.revoked_at.desc(), RevokedToken.jti)
    )
    return list(result.scalars())


class TokenVerifier:
    """Turns a presented JWT into a :class:`Principal`, or raises 401.

    One per process (``app.state.token_verifier``). The signature and claims are checked in
    memory; the revocation list is a set of ids reloaded from the database at most every
    ``refresh_seconds`` (on the first verification after that time, so an idle server
    queries nothing).
    """

    def __init__(
        self,
        database: Database,
        *,
        secret: str,
        refresh_seconds: float = 30.0,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        leeway: float = LEEWAY_SECONDS,
    ) -> None:
        if not secret:
            raise ValueError("a JWT secret is required")
        self.database = database
        self.clock = clock
        self._secret = secret
        self._refresh_seconds = refresh_seconds
        self._monotonic = monotonic
        self._leeway = leeway
        self._revoked: frozenset[str] = frozenset()
        # jti -> when its row may be forgotten. Revoked here but maybe not yet seen by a
        # reload: a reload that read the table just before the revocation committed must
        # not bring the token back.
        self._pending: dict[str, datetime] = {}
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    @property
    def secret(self) -> str:
        """The signing secret, for issuing tokens this verifier accepts."""
        return self._secret

    async def verify(self, token: str) -> TokenClaims:
        claims = decode_token(token, self._secret, leeway=self._leeway)
        if await self.is_revoked(claims.jti):
            raise TokenRevoked()
        return claims

    async def authenticate(self, token: str, *, service_identity: str | None = None) -> Principal:
        claims = await self.verify(token)
        return claims.principal(service_identity=service_identity)

    async def is_revoked(self, jti: str) -> bool:
        if jti in self._pending:
            return True
        if self._is_stale():
            await self.refresh()
        return jti in self._revoked or jti in self._pending

    def mark_revoked(self, jti: str, expires_at: datetime | None = None) -> None:
        """Refuse ``jti`` in this process from now on (after its revocation committed)."""
        self._pending[jti] = as_utc(expires_at) if expires_at is not None else self.clock() + MAX_LIFETIME

    def _is_stale(self) -> bool:
        return self._loaded_at is None or self._monotonic() - self._loaded_at >= self._refresh_seconds

    async def refresh(self, *, force: bool = False) -> None:
        """Reload the revoked ids of unexpired tokens from the database."""
        async with self._lock:
            # Concurrent requests that all found the set stale reload it once.
            if not force and not self._is_stale():
                return
            started = self._monotonic()
            cutoff = self.clock() - _RETENTION_MARGIN
            try:
                async with self.database.session() as session:
                    result = await session.execute(
                        select(RevokedToken.jti).where(RevokedToken.expires_at >= cutoff)
                    )
                    loaded = frozenset(result.scalars())
            except (SQLAlchemyError, OSError) as exc:
                # Failing closed: without the list a revoked token would pass.
                log.warning("token_revocations_unavailable", error=str(exc))
                raise ServiceUnavailable("Cannot check bearer token revocations", retry_after=5) from None
            self._revoked = loaded
            # Seen in the table, or expired (their rows are purged): no longer needed here.
            self._pending = {
                jti: until for jti, until in self._pending.items() if jti not in loaded and until >= cutoff
            }
            self._loaded_at = started
