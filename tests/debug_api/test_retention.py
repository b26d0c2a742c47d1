"""Command retention: finished commands older than the retention are deleted, nothing else."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from pilothouse.commands.models import Command, CommandStatus
from pilothouse.commands.retention import CommandRetention
from pilothouse.settings import Settings
from pilothouse.store.database import Database
from tests.debug_api.conftest import FakeClock, MakeHarness
from tests.debug_api.test_writer_checkpoint import command_state


async def store(
    database: Database,
    clock: FakeClock,
    index: int,
    status: CommandStatus,
    age_days: float,
    deadline_in_days: float | None = None,
) -> str:
    """A command created ``age_days`` ago, whose deadline was 35 s later (or, with
    ``deadline_in_days``, is that far from now)."""
    created_at = clock() - timedelta(days=age_days)
    deadline = (
        created_at + timedelta(seconds=35)
        if deadline_in_days is None
        else clock() + timedelta(days=deadline_in_days)
    )
    state = dataclasses.replace(
        command_state(index), status=status.value, created_at=created_at, deadline=deadline
    )
    async with database.session() as session:
        session.add(Command(**state.values()))
    return state.id


async def stored_ids(database: Database) -> set[str]:
    async with database.session() as session:
        return set((await session.scalars(select(Command.id))).all())


async def test_commands_older_than_the_retention_are_deleted_unless_still_open(database: Database) -> None:
    clock = FakeClock()
    old = {
        await store(database, clock, index, status, age_days=8)
        for index, status in enumerate(
            [CommandStatus.SUCCESS, CommandStatus.FAILURE, CommandStatus.TIMEOUT, CommandStatus.SUCCESS]
        )
    }
    # Left open by a server that stopped: its deadline passed long ago.
    old.add(await store(database, clock, 5, CommandStatus.RUNNING, age_days=30))
    kept = {
        # Open, and its deadline not passed yet.
        await store(database, clock, 10, CommandStatus.PENDING, age_days=8, deadline_in_days=0.01),
        await store(database, clock, 12, CommandStatus.SUCCESS, age_days=6.9),
        await store(database, clock, 13, CommandStatus.FAILURE, age_days=0),
        await store(database, clock, 14, CommandStatus.RUNNING, age_days=0),
    }
    # Batches of 3: the five old ones take two transactions.
    retention = CommandRetention(database, 7, clock=clock, batch=3, pause=0)

    assert await retention.purge() == len(old)
    assert await stored_ids(database) == kept
    assert await retention.purge() == 0

    clock.advance(timedelta(days=2).total_seconds())
    # The finished one that was 6.9 days old; the open one's deadline is not 7 days old yet.
    assert await retention.purge() == 1
    assert await stored_ids(database) == kept - {command_state(12).id}
    clock.advance(timedelta(days=8).total_seconds())
    assert await retention.purge() == 3
    assert await stored_ids(database) == set()


@pytest.mark.parametrize("days", [-1, 36501, float("inf"), float("nan")])
def test_retention_days_out_of_range_are_refused(days: float) -> None:
    with pytest.raises(ValidationError):
        Settings(command_retention_days=days)


async def test_zero_days_keeps_everything(database: Database) -> None:
    clock = FakeClock()
    await store(database, clock, 1, CommandStatus.SUCCESS, age_days=400)
    retention = CommandRetention(database, 0, clock=clock)

    assert not retention.enabled
    retention.start()
    assert retention._task is None
    assert await retention.purge() == 0
    assert await stored_ids(database) == {command_state(1).id}


async def test_the_server_purges_old_results_and_keeps_their_audit_events(make_harness: MakeHarness) -> None:
    async with (
        make_harness(fake_clock=True, command_retention_days=1) as harness,
        harness.connected_executor("prod-1"),
    ):
        assert harness.clock is not None
        response = await harness.execute(cluster_id="prod-1", command_type="get", args=["pods"])
        assert response.status_code == 200, response.text
        command_id = response.json()["command_id"]
        retention: CommandRetention = harness.app.state.command_retention
        assert retention.enabled
        assert await retention.purge() == 0

        harness.clock.advance(timedelta(days=1, seconds=1).total_seconds())
        assert await retention.purge() == 1
        result = await harness.http.get(f"/debug/result/{command_id}", headers=harness.auth())
        audit = await harness.audit(action="command.execute")
    assert result.status_code == 404
    assert [event["command_id"] for event in audit["events"]] == [command_id]
