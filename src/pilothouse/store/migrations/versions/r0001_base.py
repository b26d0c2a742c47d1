"""Base revision: the empty schema every capability's migrations build on.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Intentionally empty: it gives later revisions a fixed root ("0001") to chain from.
    pass


def downgrade() -> None:
    pass
