"""Commands sent to clusters, from request to result. The row is the source of truth; the bus
queue only carries its id to an executor."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pilothouse.audit.clock import UtcDateTime
from pilothouse.store.database import Base


class CommandKind(StrEnum):
    KUBECTL = "kubectl"
    # Answered by the executor without running anything: measures the round trip.
    PING = "ping"


class CommandStatus(StrEnum):
    """The Kubently ExecutionStatus values (``cancelled`` is never used)."""

    PENDING = "pending"  # waiting for an executor
    RUNNING = "running"  # leased to an executor
    SUCCESS = "success"
    FAILURE = "failure"
    TIMEOUT = "timeout"


OPEN_STATUSES = (CommandStatus.PENDING, CommandStatus.RUNNING)


class Command(Base):
    __tablename__ = "commands"
    __table_args__ = (
        Index("ix_commands_cluster_id_status", "cluster_id", "status"),
        Index("ix_commands_session_id", "session_id"),
        Index("ix_commands_created_at", "created_at"),
    )

    # cmd_<hex>; the operation id of the same command is op_<hex> (same hex).
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    cluster_id: Mapped[str] = mapped_column(String(63))
    session_id: Mapped[str | None] = mapped_column(String(64))
    # Who asked (for ownership checks and the audit record written when it finishes).
    key_id: Mapped[str | None] = mapped_column(String(64))
    principal_name: Mapped[str | None] = mapped_column(String(200))
    service_identity: Mapped[str | None] = mapped_column(String(200))
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(200))
    command_type: Mapped[str | None] = mapped_column(String(32))
    # Exactly what the executor runs after "kubectl": checked and normalised by the policy.
    args: Mapped[list[str]] = mapped_column(JSON)
    namespace: Mapped[str | None] = mapped_column(String(63))
    timeout_seconds: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # After this the server stops waiting (408) and never starts the command any more.
    deadline: Mapped[datetime] = mapped_column(UtcDateTime())
    delivery_count: Mapped[int] = mapped_column(Integer)
    leased_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    leased_by: Mapped[str | None] = mapped_column(String(64))
    # The bus message carrying this command, acknowledged when the result arrives.
    queue_message_id: Mapped[str | None] = mapped_column(String(64))
    # When the status became terminal (success, failure, timeout).
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The first result received; later ones are ignored. May follow a timeout (a late result).
    result_received_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    executed_by: Mapped[str | None] = mapped_column(String(64))
    success: Mapped[bool | None] = mapped_column(Boolean)
    output: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    execution_time_ms: Mapped[int | None] = mapped_column(Integer)
    output_truncated: Mapped[bool] = mapped_column(Boolean)
