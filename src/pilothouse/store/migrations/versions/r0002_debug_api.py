"""Debug API: API keys, clusters and their executors, debug sessions, commands, audit events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Timestamps are DateTime(timezone=True) columns; the models read and write them through
# pilothouse.audit.clock.UtcDateTime, which only changes how Python values are converted.

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_salt", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("clusters", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )
    op.create_table(
        "clusters",
        sa.Column("id", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.Column("security_mode", sa.String(length=32), nullable=False),
        sa.Column("token_salt", sa.String(length=64), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token_rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agent_version", sa.String(length=64), nullable=True),
        sa.Column("discovery", sa.JSON(), nullable=True),
        sa.Column("discovery_digest", sa.String(length=64), nullable=True),
        sa.Column("discovery_reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clusters")),
    )
    op.create_table(
        "cluster_executors",
        sa.Column("cluster_id", sa.String(length=63), nullable=False),
        sa.Column("executor_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("inflight", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_cluster_executors_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cluster_id", "executor_id", name=op.f("pk_cluster_executors")),
    )
    op.create_table(
        "debug_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("cluster_id", sa.String(length=63), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("principal_name", sa.String(length=200), nullable=True),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column("correlation_id", sa.String(length=200), nullable=True),
        sa.Column("service_identity", sa.String(length=200), nullable=True),
        sa.Column("client_metadata", sa.JSON(), nullable=True),
        sa.Column("ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_activity", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idle_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("command_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debug_sessions")),
    )
    with op.batch_alter_table("debug_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_debug_sessions_cluster_id_created_at", ["cluster_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_debug_sessions_expires_at", ["expires_at"], unique=False)
        batch_op.create_index("ix_debug_sessions_key_id", ["key_id"], unique=False)

    op.create_table(
        "commands",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("cluster_id", sa.String(length=63), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("principal_name", sa.String(length=200), nullable=True),
        sa.Column("service_identity", sa.String(length=200), nullable=True),
        sa.Column("correlation_id", sa.String(length=200), nullable=True),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("command_type", sa.String(length=32), nullable=True),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=True),
        sa.Column("timeout_seconds", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivery_count", sa.Integer(), nullable=False),
        sa.Column("leased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=64), nullable=True),
        sa.Column("queue_message_id", sa.String(length=64), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("executed_by", sa.String(length=64), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("execution_time_ms", sa.Integer(), nullable=True),
        sa.Column("output_truncated", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commands")),
    )
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.create_index("ix_commands_cluster_id_status", ["cluster_id", "status"], unique=False)
        batch_op.create_index("ix_commands_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_commands_session_id", ["session_id"], unique=False)

    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("principal_name", sa.String(length=200), nullable=True),
        sa.Column("service_identity", sa.String(length=200), nullable=True),
        sa.Column("correlation_id", sa.String(length=200), nullable=True),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("cluster_id", sa.String(length=63), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("command_id", sa.String(length=64), nullable=True),
        sa.Column("args", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_action", ["action"], unique=False)
        batch_op.create_index(
            "ix_audit_events_cluster_id_occurred_at", ["cluster_id", "occurred_at"], unique=False
        )
        batch_op.create_index("ix_audit_events_correlation_id", ["correlation_id"], unique=False)
        batch_op.create_index("ix_audit_events_key_id", ["key_id"], unique=False)
        batch_op.create_index("ix_audit_events_occurred_at", ["occurred_at"], unique=False)


def downgrade() -> None:
    for table, indexes in (
        (
            "audit_events",
            (
                "ix_audit_events_occurred_at",
                "ix_audit_events_key_id",
                "ix_audit_events_correlation_id",
                "ix_audit_events_cluster_id_occurred_at",
                "ix_audit_events_action",
            ),
        ),
        ("commands", ("ix_commands_session_id", "ix_commands_created_at", "ix_commands_cluster_id_status")),
        (
            "debug_sessions",
            (
                "ix_debug_sessions_key_id",
                "ix_debug_sessions_expires_at",
                "ix_debug_sessions_cluster_id_created_at",
            ),
        ),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for index in indexes:
                batch_op.drop_index(index)
        op.drop_table(table)
    op.drop_table("cluster_executors")
    op.drop_table("clusters")
    op.drop_table("api_keys")
