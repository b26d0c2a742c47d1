"""API shapes of /api/v1/auth/tokens (bearer JWTs)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, cast

from pydantic import BaseModel, Field, field_validator

from pilothouse.auth.models import RevokedToken
from pilothouse.auth.principal import Scope
from pilothouse.auth.tokens import (
    MAX_LIFETIME,
    MAX_REASON_CHARS,
    MAX_SUB_CHARS,
    NAMESPACE_PATTERN,
    IssuedToken,
)
from pilothouse.clusters.ids import ClusterId

JwtKind = Literal["user", "service", "admin"]


class TokenCreate(BaseModel):
    sub: str = Field(
        min_length=1,
        max_length=MAX_SUB_CHARS,
        description="Who the token acts for: a user id or a service account name",
        examples=["alice@example.com"],
    )
    scopes: list[Scope] = Field(
        default=[Scope.READ],
        min_length=1,
        description='Granted scopes; a comma-separated string ("read,write") is accepted too',
    )
    kind: JwtKind = Field(
        default="user",
        description="user (24 h by default), service (7 days) or admin (90 days; needs the admin scope)",
    )
    cluster_id: ClusterId | None = Field(default=None, description="The only cluster the token may use")
    namespace: str | None = Field(
        default=None, pattern=f"^{NAMESPACE_PATTERN}$", description="The bearer's default namespace"
    )
    ttl_seconds: int | None = Field(
        default=None,
        ge=1,
        le=int(MAX_LIFETIME.total_seconds()),
        description="Lifetime; omitted: the kind's default",
    )

    @field_validator("scopes", mode="before")
    @classmethod
    def _split_scope_string(cls, value: object) -> object:
        # The JWT writes scopes as "read,write"; let the request say it the same way.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class TokenIssued(BaseModel):
    token: str = Field(description="The bearer JWT. It is shown only in this response.")
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the RFC 6750 token type
    expires_in: int = Field(description="Seconds until expiry")
    expires_at: datetime
    issued_at: datetime
    jti: str = Field(description="The token's id: what revokes it")
    sub: str
    scope: str = Field(description="Comma-separated scopes, as in the token")
    scopes: list[str]
    kind: JwtKind
    cluster_id: str | None
    namespace: str | None

    @classmethod
    def of(cls, issued: IssuedToken) -> TokenIssued:
        claims = issued.claims
        return cls(
            token=issued.token,
            expires_in=int((claims.expires_at - claims.issued_at).total_seconds()),
            expires_at=claims.expires_at,
            issued_at=claims.issued_at,
            jti=claims.jti,
            sub=claims.sub,
            scope=claims.scope,
            scopes=claims.scope.split(","),
            # new_claims admits only the three JWT kinds.
            kind=cast(JwtKind, claims.kind.value),
            cluster_id=claims.cluster_id,
            namespace=claims.namespace,
        )


class TokenRevoke(BaseModel):
    reason: str | None = Field(default=None, max_length=MAX_REASON_CHARS, examples=["laptop lost"])


class RevokedTokenOut(BaseModel):
    jti: str
    revoked_at: datetime
    expires_at: datetime = Field(description="When the record may be forgotten: the token is dead by then")
    revoked_by: str | None
    reason: str | None

    @classmethod
    def of(cls, row: RevokedToken) -> RevokedTokenOut:
        return cls(
            jti=row.jti,
            revoked_at=row.revoked_at,
            expires_at=row.expires_at,
            revoked_by=row.revoked_by,
            reason=row.reason,
        )


class RevokedTokenList(BaseModel):
    tokens: list[RevokedTokenOut]
    total: int
