"""The executor protocol's messages (docs/executor-protocol.md), without any transport.

Commands are read leniently (unknown fields are ignored, ``kind`` defaults to ``kubectl`` as in
the Kubently API, which has no ``kind``) but their fields strictly: ``args`` must be a list of
strings, never a string a shell would split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

AUTHORIZATION = "Authorization"
CLUSTER_ID = "X-Cluster-ID"
EXECUTOR_ID = "X-Executor-Id"
EXECUTOR_VERSION = "X-Executor-Version"
EXECUTOR_INFLIGHT = "X-Executor-Inflight"

KIND_KUBECTL = "kubectl"
KIND_PING = "ping"
PONG = "pong"

# A timeout beyond an hour is a mistake upstream; refusing it beats holding a slot that long.
MAX_COMMAND_TIMEOUT_SECONDS = 3600.0


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: StrictStr = Field(min_length=1)
    kind: StrictStr = KIND_KUBECTL
    args: tuple[StrictStr, ...] = ()
    timeout: float = Field(default=10.0, gt=0, le=MAX_COMMAND_TIMEOUT_SECONDS)
    lease_seconds: float | None = None
    session_id: str | None = None
    correlation_id: str | None = None


class CommandResult(BaseModel):
    """The ``result`` object of ``POST /agent/results``."""

    model_config = ConfigDict(frozen=True)

    success: bool
    output: str = ""
    error: str | None = None
    exit_code: int | None = None
    execution_time_ms: int = 0
    # Additive to the Kubently result: the executor killed the command at its timeout. The server
    # records such a command as timed out rather than failed.
    timed_out: bool = False

    @classmethod
    def failure(cls, error: str, *, execution_time_ms: int = 0) -> CommandResult:
        """A command that never ran: no process, so no exit code."""
        return cls(success=False, error=error, exit_code=None, execution_time_ms=execution_time_ms)


@dataclass(frozen=True)
class MalformedCommand:
    """A delivered item that is not a valid command. With an id it still gets a failed result,
    so the server does not redeliver it forever; without one it can only be logged."""

    command_id: str | None
    problem: str


def parse_commands(body: object) -> tuple[list[Command], list[MalformedCommand]]:
    """The commands of a ``GET /agent/commands`` answer; raises ``ValueError`` if it is not one."""
    if not isinstance(body, dict) or not isinstance(body.get("commands"), list):
        raise ValueError('the answer is not an object with a "commands" list')
    commands: list[Command] = []
    malformed: list[MalformedCommand] = []
    for item in body["commands"]:
        try:
            commands.append(Command.model_validate(item))
        except ValidationError as error:
            malformed.append(MalformedCommand(_item_id(item), _describe(error)))
    return commands, malformed


def result_body(command_id: str, result: CommandResult) -> dict[str, Any]:
    return {"command_id": command_id, "result": result.model_dump(mode="json")}


def _item_id(item: object) -> str | None:
    if isinstance(item, dict):
        command_id = item.get("id")
        if isinstance(command_id, str) and command_id:
            return command_id
    return None


def _describe(error: ValidationError) -> str:
    # Field locations and messages only: input values could be anything, including credentials.
    problems: Sequence[str] = [
        f"{'.'.join(str(part) for part in detail['loc']) or 'command'}: {detail['msg']}"
        for detail in error.errors(include_input=False, include_url=False)
    ]
    return "; ".join(problems)
