"""API keys (only a salted hash of each secret is stored; the key is shown once at creation)
and the revocation list of bearer JWTs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from pilothouse.audit.clock import UtcDateTime
from pilothouse.store.database import Base


class ApiKey(Base):
    __tablename__ = "api_keys"

    # The public part of the key (ph_<id>_<secret>); requests are looked up by it.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_salt: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    # None: every cluster.
    clusters: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str | None] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class RevokedToken(Base):
    """A bearer JWT refused before its expiry, by its ``jti``.

    Rows are needed only until the token would have expired anyway; they are purged after
    ``expires_at`` (see ``auth.tokens.revoke_token``), which keeps the table, and the set of
    revoked ids every server process holds in memory, small.
    """

    __tablename__ = "revoked_tokens"
    __table_args__ = (Index("ix_revoked_tokens_expires_at", "expires_at"),)

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    revoked_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The token's own expiry when the revoker knew it, else the longest lifetime a token may
    # have, counted from the revocation: either way no live token outlives its row.
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(500))
