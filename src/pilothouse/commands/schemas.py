"""API shapes of /debug/execute, /debug/operations, /debug/result and /agent/*.

Responses are supersets of the Kubently reference and A2A documents: ``command_id`` and
``result_id`` carry the same id, ``status`` uses Kubently's ExecutionStatus
(pending, running, success, failure, timeout) and ``state`` the A2A word for a finished
command (``completed``) alongside pending, running and timeout.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator

from pilothouse.clusters.ids import ClusterId
from pilothouse.commands.models import CommandState as Command
from pilothouse.commands.models import CommandStatus

NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
OPERATION_ID_PREFIX = "op_"
COMMAND_ID_PREFIX = "cmd_"

CommandState = Literal["pending", "running", "completed", "timeout"]


class ExecuteRequest(BaseModel):
    cluster_id: ClusterId
    session_id: str | None = Field(default=None, max_length=64)
    correlation_id: str | None = Field(default=None, max_length=200)
    command_type: str = Field(min_length=1, max_length=32, examples=["get"])
    args: list[str] = Field(min_length=1, max_length=20, examples=[["pods", "-o", "wide"]])
    # Omitted: kubectl's own default namespace (nothing is added to the arguments).
    namespace: str | None = Field(default=None, pattern=NAMESPACE_PATTERN, max_length=63)
    # Kubently says timeout_seconds, the A2A document timeout; both mean the same.
    timeout_seconds: float | None = Field(default=None, ge=1)
    timeout: float | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_timeout(self) -> Self:
        if (
            self.timeout is not None
            and self.timeout_seconds is not None
            and self.timeout != self.timeout_seconds
        ):
            raise ValueError("timeout and timeout_seconds disagree; send one of them")
        return self

    @property
    def requested_timeout(self) -> float | None:
        return self.timeout_seconds if self.timeout_seconds is not None else self.timeout


def operation_id_of(command_id: str) -> str:
    return OPERATION_ID_PREFIX + command_id.removeprefix(COMMAND_ID_PREFIX)


def command_id_of(operation_id: str) -> str | None:
    if not operation_id.startswith(OPERATION_ID_PREFIX):
        return None
    return COMMAND_ID_PREFIX + operation_id.removeprefix(OPERATION_ID_PREFIX)


def state_of(status: str) -> CommandState:
    if status == CommandStatus.PENDING:
        return "pending"
    if status == CommandStatus.RUNNING:
        return "running"
    if status == CommandStatus.TIMEOUT:
        return "timeout"
    return "completed"


class CommandResultOut(BaseModel):
    command_id: str
    result_id: str = Field(description="Same as command_id (A2A name)")
    operation_id: str
    session_id: str | None
    cluster_id: str
    correlation_id: str | None
    kind: str
    command_type: str | None
    args: list[str] = Field(description="The arguments run after kubectl, as checked by the policy")
    namespace: str | None
    status: CommandStatus
    state: CommandState
    success: bool | None
    output: str | None
    error: str | None
    exit_code: int | None
    execution_time_ms: int | None
    truncated: bool
    # A result that arrived after the command had been recorded as timed out.
    late_result: bool
    timeout_seconds: float
    delivery_count: int
    created_at: datetime
    executed_at: datetime | None
    completed_at: datetime | None

    @classmethod
    def of(cls, row: Command) -> CommandResultOut:
        late = (
            row.result_received_at is not None
            and row.completed_at is not None
            and row.result_received_at > row.completed_at
        )
        return cls(
            command_id=row.id,
            result_id=row.id,
            operation_id=operation_id_of(row.id),
            session_id=row.session_id,
            cluster_id=row.cluster_id,
            correlation_id=row.correlation_id,
            kind=row.kind,
            command_type=row.command_type,
            args=row.args,
            namespace=row.namespace,
            status=CommandStatus(row.status),
            state=state_of(row.status),
            success=row.success,
            output=row.output,
            error=row.error,
            exit_code=row.exit_code,
            execution_time_ms=row.execution_time_ms,
            truncated=row.output_truncated,
            late_result=late,
            timeout_seconds=row.timeout_seconds,
            delivery_count=row.delivery_count,
            created_at=row.created_at,
            executed_at=row.result_received_at or row.completed_at,
            completed_at=row.completed_at,
        )


class AsyncAccepted(BaseModel):
    operation_id: str
    status: Literal["pending"] = "pending"
    poll_url: str
    command_id: str
    result_id: str
    result_url: str
    created_at: datetime


class OperationOut(BaseModel):
    operation_id: str
    status: Literal["pending", "running", "completed"]
    created_at: datetime
    completed_at: datetime | None
    result: CommandResultOut | None

    @classmethod
    def of(cls, row: Command) -> OperationOut:
        finished = row.status not in (CommandStatus.PENDING, CommandStatus.RUNNING)
        return cls(
            operation_id=operation_id_of(row.id),
            status="completed"
            if finished
            else "pending"
            if row.status == CommandStatus.PENDING
            else "running",
            created_at=row.created_at,
            completed_at=row.completed_at,
            result=CommandResultOut.of(row) if finished else None,
        )


# --- executor side ---------------------------------------------------------------------------


class ExecutorCommand(BaseModel):
    id: str
    kind: str
    args: list[str]
    timeout: float
    session_id: str | None
    correlation_id: str | None
    lease_seconds: float


class ExecutorCommands(BaseModel):
    commands: list[ExecutorCommand]


class ExecutorResult(BaseModel):
    success: bool
    output: str | None = ""
    error: str | None = None
    exit_code: int | None = None
    execution_time_ms: int | None = Field(default=None, ge=0)
    # Optional (additive to the protocol): the executor stopped the command at its timeout.
    timed_out: bool = False


class ResultSubmission(BaseModel):
    command_id: str = Field(min_length=1, max_length=64)
    result: ExecutorResult


class ResultAccepted(BaseModel):
    message: str
    command_id: str
    # False when a result for this command had already been stored (this one was ignored).
    stored: bool


class AgentStatus(BaseModel):
    cluster_id: str
    is_active: bool = Field(description="The cluster has live debug sessions or waiting commands")
    queue_depth: int = Field(description="Commands waiting for an executor (not yet leased)")
