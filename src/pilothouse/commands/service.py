"""Commands, from request to result.

Life of a command:

1. ``prepare``: the cluster must exist, the arguments must pass the server's copy of the policy
   (the cluster's security mode and resource types). Denials are audited.
2. ``submit``: the cluster's executor must be connected (else 503, nothing is queued); the
   command is counted on its session and recorded ``pending``.
3. ``run`` (sync) or ``start`` (async): the id is put on the bus queue ``commands.<cluster>``.
   A sync caller then sleeps until the result is stored or the deadline passes; there is no
   polling.
4. An executor's long poll (``lease``) takes the id from the queue under a lease and the
   command becomes ``running``. If no result arrives within the lease, the bus hands the command
   out again (at least once). A command nobody took before its deadline is withdrawn, never run
   late; one whose executors keep dying is given up after ``command_max_deliveries``.
5. ``store_result``: the first result wins (later ones are acknowledged and ignored); output
   is redacted and capped before it is stored; the queue message is acknowledged and the
   waiting caller woken.

The deadline is ``timeout + command_result_grace_seconds`` after submission. When it passes
without a result the command is recorded ``timeout`` (408 for a sync caller); a result that
arrives later is still stored and shown as ``late_result``. Every command gets one audit
event, written when its status becomes final.

Where a command's state lives depends on the bus:

* **In-process bus** (one server process; the default): only this process can lease the command
  or receive its result, so its state is kept in memory while it is live (``self._live``) and the
  row is written behind by the group-commit writer (``commands.writer``): usually once, final and
  with its audit event. Durable before anyone is told: the row before a 202 (async), the result
  and audit event before the result goes to the caller and the executor's POST is answered. A
  command leaves memory once its final state has been written; anything later about it (a late
  result, a redelivery, a read) goes to the database.
* **Redis bus** (replicas): any replica may lease a command or receive its result, so the row is
  the source of truth and every step is a transaction, as guarded statements that let exactly
  one replica win a race. The row is written before the id is enqueued, so every replica finds
  it; the result reaches a waiting caller on another replica through the topic
  ``command-results.<id>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from pilothouse.audit.clock import Clock, UtcDateTime, utc_now
from pilothouse.audit.models import AuditEvent
from pilothouse.audit.service import Actor, AuditAction, AuditOutcome, event_values, record
from pilothouse.auth.principal import Principal, Scope
from pilothouse.bus.base import Bus, Message
from pilothouse.clusters.service import ClusterRegistry, ClusterView, ExecutorIdentity
from pilothouse.commands.models import OPEN_STATUSES, Command, CommandKind, CommandState, CommandStatus
from pilothouse.commands.schemas import COMMAND_ID_PREFIX, ExecutorCommand, ExecutorResult
from pilothouse.commands.validation import args_after_verb, required_scope
from pilothouse.commands.writer import BatchSource, CommandWriter
from pilothouse.errors import (
    AgentDisconnected,
    BadRequest,
    CommandForbidden,
    NotFound,
    RequestTimeout,
    ValidationFailed,
)
from pilothouse.ids import random_hex
from pilothouse.observability.logging import get_logger
from pilothouse.observability.metrics import CommandMetrics
from pilothouse.policy import redact
from pilothouse.sessions.service import SessionService
from pilothouse.settings import Settings
from pilothouse.store.database import Database, rowcount
from pilothouse.waiting import resolve, wait_on

log = get_logger(__name__)

QUEUE_PREFIX = "commands."
RESULT_TOPIC_PREFIX = "command-results."
# Executor error text is a message, not a document.
MAX_ERROR_BYTES = 64 * 1024
# A long poll refreshes its executor's heartbeat this often, so a poll longer than the
# staleness limit does not make the cluster look disconnected while it waits.
_HEARTBEAT_FRACTION = 3
# How often live commands past their deadline are looked for (in-process bus).
SWEEP_SECONDS = 1.0
_OPEN = frozenset(status.value for status in OPEN_STATUSES)


def queue_name(cluster_id: str) -> str:
    return f"{QUEUE_PREFIX}{cluster_id}"


def result_topic(command_id: str) -> str:
    return f"{RESULT_TOPIC_PREFIX}{command_id}"


def cap_text(text: str, max_bytes: int) -> tuple[str, bool]:
    """``text`` cut to at most ``max_bytes`` of UTF-8 (never inside a character)."""
    if len(text) * 4 <= max_bytes:
        # Even four bytes per character fit: no need to encode.
        return text, False
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return text, False
    return encoded[:max_bytes].decode(errors="ignore"), True


_TIMESTAMP_COLUMNS = frozenset(
    column.key for column in Command.__table__.columns if isinstance(column.type, UtcDateTime)
)


def snapshot(state: CommandState) -> dict[str, Any]:
    """The command as JSON values (for the result topic)."""
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in state.values().items()
    }


def from_snapshot(values: dict[str, Any]) -> CommandState:
    """A command from ``snapshot``."""
    fields: dict[str, Any] = {
        key: datetime.fromisoformat(value) if key in _TIMESTAMP_COLUMNS and value is not None else value
        for key, value in values.items()
    }
    return CommandState(**fields, persisted=True)


def _set_committed(row: Command, values: dict[str, Any]) -> None:
    """Show values written with an UPDATE statement on the loaded row, without making it dirty
    (which would write them again at commit)."""
    for key, value in values.items():
        set_committed_value(row, key, value)


def _result_status(result: ExecutorResult) -> CommandStatus:
    if result.timed_out:
        return CommandStatus.TIMEOUT
    return CommandStatus.SUCCESS if result.success else CommandStatus.FAILURE


@dataclass(frozen=True)
class CommandRequest:
    cluster_id: str
    command_type: str
    args: list[str]
    session_id: str | None = None
    correlation_id: str | None = None
    namespace: str | None = None
    timeout_seconds: float | None = None
    # X-Request-Timeout: the caller gives up after this many seconds.
    request_timeout: float | None = None


@dataclass(frozen=True)
class PreparedCommand:
    cluster: ClusterView
    kind: CommandKind
    command_type: str | None
    argv: tuple[str, ...]
    namespace: str | None
    timeout_seconds: float
    # How long a sync caller waits for the result.
    wait_seconds: float
    required_scope: Scope
    session_id: str | None
    correlation_id: str | None


class CommandService:
    def __init__(
        self,
        database: Database,
        bus: Bus,
        registry: ClusterRegistry,
        sessions: SessionService,
        settings: Settings,
        *,
        clock: Clock = utc_now,
        metrics: CommandMetrics | None = None,
    ) -> None:
        self.database = database
        self.bus = bus
        self.registry = registry
        self.sessions = sessions
        self.clock = clock
        self.metrics = metrics
        self._timeout_default = float(settings.command_timeout_default_seconds)
        self._timeout_max = float(settings.command_timeout_max_seconds)
        self._grace = settings.command_result_grace_seconds
        self._lease_seconds = settings.executor_lease_seconds
        self._max_deliveries = settings.command_max_deliveries
        self._max_output_bytes = settings.max_output_bytes
        self._heartbeat_every = settings.executor_stale_seconds / _HEARTBEAT_FRACTION
        # In memory only with the in-process bus (see the module docstring).
        self._local = bool(getattr(bus, "process_local", False))
        self.writer = CommandWriter(database)
        # Live commands of this process by id, and by cluster; sync callers waiting, by id.
        self._live: dict[str, CommandState] = {}
        self._live_by_cluster: dict[str, dict[str, CommandState]] = {}
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._sweeper: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------

    async def start_background(self) -> None:
        """Start the writer (and, with the in-process bus, the deadline sweeper); heartbeats
        are written in the writer's batches from now on."""
        self.writer.add_source(
            BatchSource(
                take=self.registry.take_heartbeats,
                statements=self.registry.heartbeat_statements,
                restore=self.registry.restore_heartbeats,
            )
        )
        self.registry.defer_heartbeats(self.writer.nudge)
        self.writer.start()
        if self._local:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="command-deadlines")

    async def stop_background(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self.writer.close()

    # --- client side ---------------------------------------------------------------------

    async def prepare(self, principal: Principal, request: CommandRequest) -> PreparedCommand:
        """Validate a kubectl command for its cluster; COMMAND_FORBIDDEN (audited) if the
        policy refuses it."""
        timeout = self._timeout(request.timeout_seconds, request.request_timeout)
        cluster = await self.registry.cached_view(request.cluster_id)
        policy = await self.registry.policy_for(cluster)
        argv = args_after_verb(request.command_type, request.args, policy.catalog)
        decision = policy.decide(argv, namespace=request.namespace, command_type=request.command_type)
        if not decision.allowed or decision.command is None:
            await self._audit_denial(principal, request, decision.reason, decision.code)
            if self.metrics is not None:
                self.metrics.denied.inc()
            raise CommandForbidden(
                f"Command not allowed: {decision.reason}",
                details={
                    "reason": decision.reason,
                    "policy_code": decision.code,
                    "security_mode": cluster.security_mode.value,
                    "cluster_id": cluster.id,
                },
            )
        return PreparedCommand(
            cluster=cluster,
            kind=CommandKind.KUBECTL,
            command_type=request.command_type,
            argv=decision.command.argv,
            namespace=decision.command.namespace,
            timeout_seconds=timeout,
            wait_seconds=self._wait_seconds(timeout, request.request_timeout),
            required_scope=required_scope(decision.command),
            session_id=request.session_id,
            correlation_id=request.correlation_id,
        )

    async def prepare_ping(self, cluster_id: str) -> PreparedCommand:
        cluster = await self.registry.cached_view(cluster_id)
        timeout = self._timeout_default
        return PreparedCommand(
            cluster=cluster,
            kind=CommandKind.PING,
            command_type=None,
            argv=(),
            namespace=None,
            timeout_seconds=timeout,
            wait_seconds=self._wait_seconds(timeout, None),
            required_scope=Scope.READ,
            session_id=None,
            correlation_id=None,
        )

    async def submit(
        self, principal: Principal, prepared: PreparedCommand, *, durable: bool = False
    ) -> CommandState:
        """Record the command (and count it on its session). 503 if no executor is connected:
        nothing is stored then, so nothing runs later by surprise. ``durable``: return only once
        the row is in the database (an async command, whose id the caller will look up)."""
        cluster = prepared.cluster
        if not self.registry.is_connected(cluster.last_seen):
            # The cached view may predate a heartbeat written by another replica.
            cluster = await self.registry.view(cluster.id)
            if not self.registry.is_connected(cluster.last_seen):
                raise AgentDisconnected(cluster.id, last_seen=cluster.last_seen)
        now = self.clock()
        actor = principal.actor(correlation_id=prepared.correlation_id)
        state = CommandState(
            id=f"{COMMAND_ID_PREFIX}{random_hex()}",
            kind=prepared.kind.value,
            cluster_id=cluster.id,
            session_id=prepared.session_id,
            key_id=principal.key_id,
            principal_name=principal.name,
            service_identity=actor.service_identity,
            correlation_id=actor.correlation_id,
            request_id=actor.request_id,
            command_type=prepared.command_type,
            args=list(prepared.argv),
            namespace=prepared.namespace,
            timeout_seconds=prepared.timeout_seconds,
            status=CommandStatus.PENDING.value,
            created_at=now,
            deadline=now + timedelta(seconds=prepared.timeout_seconds + self._grace),
        )
        if prepared.session_id is not None:
            async with self.database.session() as session:
                await self.sessions.record_command(session, principal, prepared.session_id, cluster.id)
        if self._local:
            self._remember(state)
            self.writer.stage(state)
            if durable:
                await self.writer.flush(state)
        else:
            async with self.database.session() as session:
                session.add(Command(**state.values()))
            state.persisted = True
        if self.metrics is not None:
            self.metrics.count_submitted(state.kind)
        return state

    async def start(self, state: CommandState) -> None:
        """Queue a recorded command for its cluster's executors (async execution)."""
        await self.bus.enqueue(queue_name(state.cluster_id), {"command_id": state.id})

    async def run(self, state: CommandState, wait_seconds: float) -> CommandState:
        """Queue a recorded command and wait for its result; 408 if it does not come in time."""
        if self._local and state.id in self._live:
            final = await self._run_local(state, wait_seconds)
        else:
            final = await self._run_shared(state, wait_seconds)
        if final.status == CommandStatus.TIMEOUT:
            raise RequestTimeout(
                f"Command timed out: {state.id}",
                details={
                    "command_id": state.id,
                    "result_id": state.id,
                    "timeout_seconds": final.timeout_seconds,
                    "result_url": f"/debug/result/{state.id}",
                },
            )
        return final

    async def _run_local(self, state: CommandState, wait_seconds: float) -> CommandState:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[state.id] = waiter
        try:
            await self.start(state)
            await wait_on(waiter, wait_seconds)
        finally:
            self._waiters.pop(state.id, None)
        if state.status in _OPEN:
            self._finish_live(state, CommandStatus.TIMEOUT, error=f"no result within {wait_seconds:g} s")
            self.writer.stage(state)
        # Whoever made it final may still be writing it.
        await self._persist_and_forget(state)
        return state

    async def _run_shared(self, state: CommandState, wait_seconds: float) -> CommandState:
        async with self.bus.subscribe(result_topic(state.id)) as results:
            await self.start(state)
            message = await results.get(wait_seconds)
        published = message.get("command") if message is not None else None
        final = from_snapshot(published) if isinstance(published, dict) else None
        if final is None or final.status in _OPEN:
            # No notification (topics are at most once) or not a final one: the row decides.
            async with self.database.session() as session:
                row = await self._row(session, state.id)
                if row.status in _OPEN:
                    await self._finish(
                        session, row, CommandStatus.TIMEOUT, error=f"no result within {wait_seconds:g} s"
                    )
                final = CommandState.of(row)
        return final

    async def ping(self, principal: Principal, prepared: PreparedCommand) -> tuple[CommandState, float]:
        """Send a ping through the executor; the command and the round trip in milliseconds."""
        state = await self.submit(principal, prepared)
        started = time.perf_counter()
        final = await self.run(state, prepared.wait_seconds)
        return final, (time.perf_counter() - started) * 1000

    async def result_for(self, principal: Principal, command_id: str) -> CommandState:
        """A command of this key (any command for an admin), its deadline applied."""
        state = self._live.get(command_id)
        if state is not None:
            if not (principal.is_admin or state.key_id == principal.key_id):
                raise NotFound.of("command", command_id)
            if state.status in _OPEN and self.clock() >= state.deadline:
                # Nobody waits on async commands: their deadline is applied when they are read.
                self._finish_live(state, CommandStatus.TIMEOUT, error="no result before the deadline")
                self.writer.stage(state)
                await self._persist_and_forget(state)
            return state
        async with self.database.session() as session:
            row = await session.get(Command, command_id)
            if row is None or not (principal.is_admin or row.key_id == principal.key_id):
                raise NotFound.of("command", command_id)
            if row.status in _OPEN and self.clock() >= row.deadline:
                await self._finish(session, row, CommandStatus.TIMEOUT, error="no result before the deadline")
            return CommandState.of(row)

    # --- executor side -------------------------------------------------------------------

    async def lease(self, executor: ExecutorIdentity, wait_seconds: float) -> list[ExecutorCommand]:
        """Long poll: the next command for the executor's cluster, or none after ``wait_seconds``."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + wait_seconds
        while True:
            chunk = max(0.0, min(give_up_at - loop.time(), self._heartbeat_every))
            message = await self.bus.lease(
                queue_name(executor.cluster_id),
                executor.executor_id,
                wait_seconds=chunk,
                lease_seconds=self._lease_seconds,
            )
            if message is not None:
                command = await self._claim(message, executor)
                if command is not None:
                    return [command]
            elif loop.time() >= give_up_at:
                return []
            else:
                await self.registry.record_heartbeat(executor)

    async def store_result(self, executor: ExecutorIdentity, command_id: str, result: ExecutorResult) -> bool:
        """Store the first result of a command; False (and nothing changes) for a repeat."""
        output, truncated = cap_text(redact(result.output or ""), self._max_output_bytes)
        now = self.clock()
        values: dict[str, Any] = {
            "result_received_at": now,
            "executed_by": executor.executor_id,
            "success": result.success,
            "output": output,
            "error": cap_text(redact(result.error), MAX_ERROR_BYTES)[0] if result.error else None,
            "exit_code": result.exit_code,
            "execution_time_ms": result.execution_time_ms,
            "output_truncated": truncated,
        }
        state = self._live.get(command_id)
        if state is not None:
            return await self._store_live_result(executor, state, values, _result_status(result), now)
        async with self.database.session() as session:
            row = await session.get(Command, command_id)
            if row is None or row.cluster_id != executor.cluster_id:
                raise NotFound.of("command", command_id)
            # Conditional, so that of two results racing on two replicas exactly one is stored.
            stored = rowcount(
                await session.execute(
                    update(Command)
                    .where(Command.id == command_id, Command.result_received_at.is_(None))
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
            )
            if stored:
                _set_committed(row, values)
                await self._finish(session, row, _result_status(result), now=now)
            message_id = row.queue_message_id
        if message_id is not None:
            await self.bus.ack(queue_name(executor.cluster_id), message_id)
        if stored:
            # The whole command, so that a waiting caller needs no second read.
            final = snapshot(CommandState.of(row))
            await self.bus.publish(result_topic(command_id), {"command_id": command_id, "command": final})
        else:
            log.info("duplicate_result_ignored", command_id=command_id, executor_id=executor.executor_id)
        return bool(stored)

    async def _store_live_result(
        self,
        executor: ExecutorIdentity,
        state: CommandState,
        values: dict[str, Any],
        status: CommandStatus,
        now: datetime,
    ) -> bool:
        if state.cluster_id != executor.cluster_id:
            raise NotFound.of("command", state.id)
        if state.result_received_at is not None:
            log.info("duplicate_result_ignored", command_id=state.id, executor_id=executor.executor_id)
            return False
        for key, value in values.items():
            setattr(state, key, value)
        if state.status in _OPEN:
            self._finish_live(state, status, now=now)
        # else a late result: the command stays timed out, its output is kept.
        self.writer.stage(state)
        await self.writer.flush(state)
        if state.queue_message_id is not None:
            await self.bus.ack(queue_name(state.cluster_id), state.queue_message_id)
        self._wake(state.id)
        self._forget(state)
        return True

    async def queue_depth(self, cluster_id: str) -> int:
        """Commands waiting for an executor: recorded, not yet leased, still before their deadline."""
        if self._local:
            now = self.clock()
            return sum(
                1
                for state in self._live_by_cluster.get(cluster_id, {}).values()
                if state.status == CommandStatus.PENDING and state.deadline > now
            )
        async with self.database.session() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(Command)
                .where(
                    and_(
                        Command.cluster_id == cluster_id,
                        Command.status == CommandStatus.PENDING.value,
                        Command.deadline > self.clock(),
                    )
                )
            )
        return int(count or 0)

    # --- internals -----------------------------------------------------------------------

    def _timeout(self, requested: float | None, request_timeout: float | None) -> float:
        timeout = self._timeout_default if requested is None else requested
        if not 1 <= timeout <= self._timeout_max:
            raise ValidationFailed(
                errors=[
                    {
                        "field": "timeout_seconds",
                        "message": f"must be between 1 and {self._timeout_max:g} seconds",
                    }
                ]
            )
        if request_timeout is not None:
            if request_timeout <= 0:
                raise BadRequest("X-Request-Timeout must be a positive number of seconds")
            timeout = min(timeout, request_timeout)
        return timeout

    def _wait_seconds(self, timeout: float, request_timeout: float | None) -> float:
        wait = timeout + self._grace
        return wait if request_timeout is None else min(wait, request_timeout)

    def _remember(self, state: CommandState) -> None:
        self._live[state.id] = state
        self._live_by_cluster.setdefault(state.cluster_id, {})[state.id] = state

    def _forget(self, state: CommandState) -> None:
        """Drop a final command from memory (its row is written by now)."""
        if state.status in _OPEN:
            return
        self._live.pop(state.id, None)
        by_cluster = self._live_by_cluster.get(state.cluster_id)
        if by_cluster is not None:
            by_cluster.pop(state.id, None)
            if not by_cluster:
                del self._live_by_cluster[state.cluster_id]

    async def _persist_and_forget(self, state: CommandState) -> None:
        await self.writer.flush(state)
        self._forget(state)

    def _wake(self, command_id: str) -> None:
        waiter = self._waiters.get(command_id)
        if waiter is not None:
            resolve(waiter)

    async def _claim(self, message: Message, executor: ExecutorIdentity) -> ExecutorCommand | None:
        """The command a leased message carries, if it should still run; otherwise the message
        is acknowledged (dropped) and None returned."""
        command_id = message.payload.get("command_id")
        state = self._live.get(command_id) if isinstance(command_id, str) else None
        if state is not None:
            command = await self._claim_live(message, executor, state)
        else:
            command = await self._claim_stored(message, executor, command_id)
        if command is not None and message.delivery_count > 1:
            log.info(
                "command_redelivered",
                command_id=command.id,
                delivery=message.delivery_count,
                executor=executor.executor_id,
            )
        return command

    async def _claim_live(
        self, message: Message, executor: ExecutorIdentity, state: CommandState
    ) -> ExecutorCommand | None:
        now = self.clock()
        if state.cluster_id != executor.cluster_id or state.result_received_at is not None:
            await self.bus.ack(queue_name(executor.cluster_id), message.id)
            return None
        if state.status in _OPEN and state.delivery_count == 0 and now >= state.deadline:
            # Never started and its caller has given up: running it now would surprise.
            self._finish_live(state, CommandStatus.TIMEOUT, error="no executor took the command in time")
        elif state.delivery_count >= self._max_deliveries:
            if state.status not in _OPEN:
                await self.bus.ack(queue_name(executor.cluster_id), message.id)
                return None
            self._finish_live(
                state,
                CommandStatus.FAILURE,
                error=f"no result after {state.delivery_count} deliveries; executors may be crashing on it",
            )
        elif state.status not in _OPEN and state.delivery_count == 0:
            # Withdrawn (timed out) before anyone took it.
            await self.bus.ack(queue_name(executor.cluster_id), message.id)
            return None
        else:
            state.delivery_count += 1
            state.leased_at = now
            state.leased_by = executor.executor_id
            state.queue_message_id = message.id
            if state.status == CommandStatus.PENDING:
                state.status = CommandStatus.RUNNING.value
            self.writer.stage(state)
            return self._executor_command(state)
        self.writer.stage(state)
        await self.bus.ack(queue_name(executor.cluster_id), message.id)
        self._wake(state.id)
        await self._persist_and_forget(state)
        return None

    async def _claim_stored(
        self, message: Message, executor: ExecutorIdentity, command_id: object
    ) -> ExecutorCommand | None:
        queue = queue_name(executor.cluster_id)
        now = self.clock()
        gave_up = False
        async with self.database.session() as session:
            row = await session.get(Command, command_id) if isinstance(command_id, str) else None
            if row is None or row.cluster_id != executor.cluster_id or row.result_received_at is not None:
                claimable = False
            elif row.delivery_count == 0 and now >= row.deadline:
                # Never started and its caller has given up: running it now would surprise.
                await self._finish(
                    session, row, CommandStatus.TIMEOUT, error="no executor took the command in time"
                )
                claimable = False
            elif row.delivery_count >= self._max_deliveries:
                await self._finish(
                    session,
                    row,
                    CommandStatus.FAILURE,
                    error=f"no result after {row.delivery_count} deliveries; executors may be crashing on it",
                )
                claimable, gave_up = False, True
            else:
                row.delivery_count += 1
                row.leased_at = now
                row.leased_by = executor.executor_id
                row.queue_message_id = message.id
                if row.status == CommandStatus.PENDING:
                    row.status = CommandStatus.RUNNING.value
                claimable = True
        if not claimable:
            await self.bus.ack(queue, message.id)
            if gave_up:
                await self.bus.publish(result_topic(str(command_id)), {"command_id": command_id})
            return None
        assert row is not None
        return self._executor_command(CommandState.of(row))

    def _executor_command(self, state: CommandState) -> ExecutorCommand:
        return ExecutorCommand.model_construct(
            id=state.id,
            kind=state.kind,
            args=state.args,
            timeout=state.timeout_seconds,
            session_id=state.session_id,
            correlation_id=state.correlation_id,
            lease_seconds=self._lease_seconds,
        )

    def _finish_live(
        self,
        state: CommandState,
        status: CommandStatus,
        *,
        error: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Make a live command final and audit it (written with the state's next write)."""
        now = now or self.clock()
        state.status = status.value
        state.completed_at = now
        if error is not None and state.result_received_at is None:
            state.error = error
            state.success = False
        self.writer.audit(self._audit_values(state, status, now))
        self._count_final(state, status, now)

    async def _finish(
        self,
        session: AsyncSession,
        row: Command,
        status: CommandStatus,
        *,
        error: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Make an open command row final, once, and audit it. False if it was already final."""
        now = now or self.clock()
        values: dict[str, Any] = {"status": status.value, "completed_at": now}
        if error is not None and row.result_received_at is None:
            values["error"] = error
            values["success"] = False
        changed = rowcount(
            await session.execute(
                update(Command)
                .where(Command.id == row.id, Command.status.in_(_OPEN))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        )
        if not changed:
            # Someone else made it final first; show what they stored.
            await session.refresh(row)
            return False
        _set_committed(row, values)
        session.add(AuditEvent(**self._audit_values(row, status, now)))
        self._count_final(row, status, now)
        return True

    def _audit_values(
        self, command: Command | CommandState, status: CommandStatus, now: datetime
    ) -> dict[str, Any]:
        ping = command.kind == CommandKind.PING
        return event_values(
            action=AuditAction.CLUSTER_PING if ping else AuditAction.COMMAND_EXECUTE,
            outcome=AuditOutcome(status.value),
            actor=Actor(
                key_id=command.key_id,
                name=command.principal_name,
                service_identity=command.service_identity,
                correlation_id=command.correlation_id,
                request_id=command.request_id,
            ),
            occurred_at=now,
            cluster_id=command.cluster_id,
            session_id=command.session_id,
            command_id=command.id,
            args=command.args,
            reason=command.error if status != CommandStatus.SUCCESS else None,
            duration_ms=max(0, round((now - command.created_at).total_seconds() * 1000)),
            details={
                "command_type": command.command_type,
                "exit_code": command.exit_code,
                "deliveries": command.delivery_count,
                "executor_id": command.executed_by,
            },
        )

    def _count_final(self, command: Command | CommandState, status: CommandStatus, now: datetime) -> None:
        if self.metrics is not None:
            self.metrics.count_finished(
                command.kind, status.value, max(0.0, (now - command.created_at).total_seconds())
            )

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self._sweep()
            except Exception as exc:  # the next round tries again
                log.error("command_sweep_failed", error=str(exc))

    async def _sweep(self) -> None:
        """Apply the deadline to live commands nobody waits for, so that memory only holds live
        work: a command nobody took is withdrawn (its queue message dropped), one whose result
        did not come is recorded ``timeout`` (a late result still finds its row)."""
        now = self.clock()
        expired = [
            state
            for state in self._live.values()
            if state.status in _OPEN and now >= state.deadline and state.id not in self._waiters
        ]
        # Final commands left behind by a failed write, once a retry has written them.
        for state in [state for state in self._live.values() if state.status not in _OPEN]:
            if state.persisted and not self.writer.is_staged(state.id) and state.id not in self._waiters:
                self._forget(state)
        if not expired:
            return
        for state in expired:
            if state.delivery_count == 0:
                self._finish_live(state, CommandStatus.TIMEOUT, error="no executor took the command in time")
            else:
                self._finish_live(state, CommandStatus.TIMEOUT, error="no result before the deadline")
            self.writer.stage(state)
        await self.writer.flush(*expired)
        for state in expired:
            self._forget(state)

    async def _audit_denial(
        self, principal: Principal, request: CommandRequest, reason: str, code: str
    ) -> None:
        async with self.database.session() as session:
            record(
                session,
                action=AuditAction.COMMAND_DENIED,
                outcome=AuditOutcome.DENIED,
                actor=principal.actor(correlation_id=request.correlation_id),
                occurred_at=self.clock(),
                cluster_id=request.cluster_id,
                session_id=request.session_id,
                args=[request.command_type, *request.args],
                reason=reason,
                details={"policy_code": code},
            )

    @staticmethod
    async def _row(session: AsyncSession, command_id: str) -> Command:
        row = await session.get(Command, command_id)
        if row is None:
            raise NotFound.of("command", command_id)
        return row
