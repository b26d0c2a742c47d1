"""Commands sent to clusters, from request to result. The row is the source of truth; the bus
queue only carries its id to an executor."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

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


# Columns an UPDATE of a command row writes: everything but the identity and what a command
# was asked to do, which never change after submission.
MUTABLE_COLUMNS = (
    "status",
    "delivery_count",
    "leased_at",
    "leased_by",
    "queue_message_id",
    "completed_at",
    "result_received_at",
    "executed_by",
    "success",
    "output",
    "error",
    "exit_code",
    "execution_time_ms",
    "output_truncated",
)


@dataclass(slots=True, eq=False)
class CommandState:
    """A command as the service handles it: the row's values, in memory.

    The server that accepted a command keeps its state here while it is live and writes the row
    behind (``commands.writer``); everything the API returns is built from one of these.
    """

    id: str
    kind: str
    cluster_id: str
    session_id: str | None
    key_id: str | None
    principal_name: str | None
    service_identity: str | None
    correlation_id: str | None
    request_id: str | None
    command_type: str | None
    args: list[str]
    namespace: str | None
    timeout_seconds: float
    status: str
    created_at: datetime
    deadline: datetime
    delivery_count: int = 0
    leased_at: datetime | None = None
    leased_by: str | None = None
    queue_message_id: str | None = None
    completed_at: datetime | None = None
    result_received_at: datetime | None = None
    executed_by: str | None = None
    success: bool | None = None
    output: str | None = None
    error: str | None = None
    exit_code: int | None = None
    execution_time_ms: int | None = None
    output_truncated: bool = False
    # Not a column: whether the row exists in the database yet.
    persisted: bool = field(default=False, compare=False)

    @classmethod
    def of(cls, row: Command) -> CommandState:
        return cls(**{name: getattr(row, name) for name in COLUMN_NAMES}, persisted=True)

    def values(self) -> dict[str, Any]:
        """Every column's value, for an INSERT."""
        return {name: getattr(self, name) for name in COLUMN_NAMES}

    def changes(self) -> dict[str, Any]:
        """The values an UPDATE writes."""
        return {name: getattr(self, name) for name in MUTABLE_COLUMNS}


COLUMN_NAMES = tuple(column.key for column in Command.__table__.columns)
