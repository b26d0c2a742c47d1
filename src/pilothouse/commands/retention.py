"""Command retention: finished commands, and their output, are deleted after a while.

A command row carries its output (up to ``max_output_bytes``, 1 MiB by default), so a busy agent
fills a database quickly, and a result is read within seconds of its command anyway. Every
``interval`` seconds, commands that finished and were created more than
``command_retention_days`` ago are deleted, ``batch`` rows per transaction: short transactions,
so that on SQLite the command writer is never kept waiting for long, and a pause between them.
Open commands are never deleted. The audit trail is not touched: its events hold no output and
are the operator's to keep (docs/security.md).

Every replica may run this: the deletes are idempotent, and two replicas deleting the same rows
only share the work.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from sqlalchemy import delete, or_, select

from pilothouse.audit.clock import Clock, utc_now
from pilothouse.commands.models import OPEN_STATUSES, Command
from pilothouse.observability.logging import get_logger
from pilothouse.store.database import Database, rowcount

log = get_logger(__name__)

RETENTION_INTERVAL_SECONDS = 60.0
RETENTION_BATCH_ROWS = 50
# Between two batches of one round: other writers get the database in between.
RETENTION_PAUSE_SECONDS = 0.05
_OPEN = tuple(status.value for status in OPEN_STATUSES)


class CommandRetention:
    def __init__(
        self,
        database: Database,
        retention_days: float,
        *,
        clock: Clock = utc_now,
        interval: float = RETENTION_INTERVAL_SECONDS,
        batch: int = RETENTION_BATCH_ROWS,
        pause: float = RETENTION_PAUSE_SECONDS,
    ) -> None:
        self._database = database
        self._keep = timedelta(days=retention_days)
        self._days = retention_days
        self._clock = clock
        self._interval = interval
        self._batch = batch
        self._pause = pause
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        """False with zero days (every command is kept)."""
        return self._keep > timedelta(0)

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name="command-retention")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def purge(self) -> int:
        """Delete every command older than the retention, batch by batch; how many."""
        if not self.enabled:
            return 0
        before = self._clock() - self._keep
        oldest = (
            select(Command.id)
            .where(
                Command.created_at < before,
                or_(Command.status.not_in(_OPEN), Command.deadline < before),
            )
            .limit(self._batch)
            .scalar_subquery()
        )
        statement = delete(Command).where(Command.id.in_(oldest)).execution_options(synchronize_session=False)
        deleted = 0
        while True:
            async with self._database.session() as session:
                count = rowcount(await session.execute(statement))
            deleted += count
            if count < self._batch:
                return deleted
            await asyncio.sleep(self._pause)

    async def _run(self) -> None:
        while True:
            try:
                deleted = await self.purge()
            except Exception as exc:  # the next round tries again
                log.warning("command_retention_failed", error=str(exc))
            else:
                if deleted:
                    log.info("commands_purged", deleted=deleted, retention_days=self._days)
            await asyncio.sleep(self._interval)
