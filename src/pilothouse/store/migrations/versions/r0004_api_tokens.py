"""Bearer JWTs: the revocation list (revoked_tokens), keyed by the token's jti.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_revoked_tokens")),
    )
    # Batch mode so that SQLite, which cannot alter tables in place, takes the same path as
    # PostgreSQL; for a plain index it changes nothing.
    with op.batch_alter_table("revoked_tokens") as batch:
        # Expired rows are purged by this column, and servers load only unexpired ones.
        batch.create_index("ix_revoked_tokens_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("revoked_tokens") as batch:
        batch.drop_index("ix_revoked_tokens_expires_at")
    op.drop_table("revoked_tokens")
