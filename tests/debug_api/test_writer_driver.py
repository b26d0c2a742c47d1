"""The command writer writes on the database driver itself (SQLite's on the event loop, asyncpg's):
what it stores must read back exactly as what SQLAlchemy stores for the same values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from pilothouse.audit.models import AuditEvent
from pilothouse.audit.service import Actor, AuditAction, AuditOutcome, event_values
from pilothouse.commands.models import Command, CommandState, CommandStatus
from pilothouse.commands.writer import CommandWriter
from pilothouse.store.database import Database


def full_state(command_id: str) -> CommandState:
    """A command with a value of every kind in its columns: text with quotes and non-ASCII, JSON
    with nesting characters, floats, booleans, aware datetimes with microseconds."""
    created = datetime(2026, 11, 22, 21, 0, 0, 123456, tzinfo=UTC)
    return CommandState(
        id=command_id,
        kind="kubectl",
        cluster_id="c-1",
        session_id="s-1",
        key_id="key-1",
        principal_name="O'Brien ü",
        service_identity="svc/agent@x",
        correlation_id="corr-1",
        request_id="req-1",
        command_type="get",
        args=["get", "pods", "-l", 'app="web",tier in (a, b)'],
        namespace="default",
        timeout_seconds=12.5,
        status=CommandStatus.PENDING.value,
        created_at=created,
        deadline=created + timedelta(seconds=17.5),
    )


def finish(state: CommandState) -> None:
    later = state.created_at + timedelta(milliseconds=1234)
    state.status = CommandStatus.SUCCESS.value
    state.delivery_count = 2
    state.leased_at = later
    state.leased_by = "exec-1"
    state.queue_message_id = "m-1"
    state.completed_at = later
    state.result_received_at = later
    state.executed_by = "exec-1"
    state.success = True
    state.output = "NAME  READY\nweb-1 1/1 \u2713\n"
    state.error = None
    state.exit_code = 0
    state.execution_time_ms = 87
    state.output_truncated = True


def audit_values(command_id: str) -> dict[str, Any]:
    return event_values(
        action=AuditAction.COMMAND_EXECUTE,
        outcome=AuditOutcome.SUCCESS,
        actor=Actor(key_id="key-1", name="O'Brien ü", service_identity="svc", correlation_id="corr-1"),
        occurred_at=datetime(2026, 11, 22, 21, 0, 1, 500000, tzinfo=UTC),
        cluster_id="c-1",
        session_id="s-1",
        command_id=command_id,
        args=["get", "pods"],
        reason=None,
        duration_ms=1234,
        details={"command_type": "get", "nested": {"list": [1, 2.5, None, True]}, "text": 'a "b"'},
    )


def columns(row: Command) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in Command.__table__.columns}


def audit_columns(row: AuditEvent) -> dict[str, Any]:
    names = [column.key for column in AuditEvent.__table__.columns if column.key != "id"]
    return {name: getattr(row, name) for name in names}


async def test_rows_written_on_the_driver_read_back_as_sqlalchemy_writes_them(database: Database) -> None:
    writer = CommandWriter(database)
    try:
        # Inserted, then updated with its result, with an audit event: every statement the
        # writer has for commands.
        through_writer = full_state("cmd_writer")
        writer.stage(through_writer)
        await writer.flush(through_writer)
        finish(through_writer)
        writer.stage(through_writer)
        writer.audit(audit_values("cmd_writer"))
        await writer.flush(through_writer)
        assert writer._held is not None, "the batches did not go through the driver"
    finally:
        await writer.close()

    through_sqlalchemy = full_state("cmd_orm")
    finish(through_sqlalchemy)
    async with database.session() as session:
        session.add(Command(**through_sqlalchemy.values()))
        session.add(AuditEvent(**audit_values("cmd_orm")))

    async with database.session() as session:
        written = columns(await session.get(Command, "cmd_writer"))
        expected = columns(await session.get(Command, "cmd_orm"))
        events = {
            event.command_id: audit_columns(event)
            for event in (await session.scalars(select(AuditEvent))).all()
        }
    assert {**written, "id": None} == {**expected, "id": None}
    # As stored, not only as read back: SQLite compares timestamps as text.
    async with database.session() as session:
        stored = {
            row[0]: row[1:]
            for row in (await session.execute(text("SELECT * FROM commands ORDER BY id"))).all()
        }
    assert stored["cmd_writer"] == stored["cmd_orm"]
    assert written["created_at"] == through_writer.created_at
    assert written["args"] == through_writer.args
    assert {**events["cmd_writer"], "command_id": None} == {**events["cmd_orm"], "command_id": None}
    assert events["cmd_writer"]["details"]["nested"] == {"list": [1, 2.5, None, True]}
