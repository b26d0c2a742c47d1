"""Cluster API: Direct clusters, reached through a kubeconfig context the server holds.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        # Direct clusters: the kubeconfig file and context the server uses (None: tunnel).
        batch.add_column(sa.Column("kubeconfig_path", sa.String(length=1024), nullable=True))
        batch.add_column(sa.Column("kube_context", sa.String(length=253), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("kube_context")
        batch.drop_column("kubeconfig_path")
