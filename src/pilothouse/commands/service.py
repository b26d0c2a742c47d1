"""Commands, from request to result.

Life of a command:

1. ``prepare``: the cluster must exist, the arguments must pass the server's copy of the policy
   (the cluster's security mode and resource types). Denials are audited.
2. ``submit``: the cluster's executor must be connected (else 503, nothing is queued); the row
   is stored ``pending`` and counted on its session, in one unit of work.
3. ``run`` (sync) or ``start`` (async): the id is put on the bus queue ``commands.<cluster>``.
   A sync caller subscribes to the command's result topic *before* enqueueing, then sleeps
   until the result is published or the deadline passes; there is no polling.
4. An executor's long poll (``lease``) takes the id from the queue under a lease and the row
   becomes ``running``. If no result arrives within the lease, the bus hands the command out
   again (at least once). A command nobody took before its deadline is withdrawn, never run
   late; one whose executors keep dying is given up after ``command_max_deliveries``.
5. ``store_result``: the first result wins (later ones are acknowledged and ignored); output
   is redacted and capped before it is stored; the queue message is acknowledged and the
   result topic published.

The deadline is ``timeout + command_result_grace_seconds`` after submission. When it passes
without a result the command is recorded ``timeout`` (408 for a sync caller); a result that
arrives later is still stored and shown as ``late_result``. Every command gets one audit
event, written when its status becomes final.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from pilothouse.audit.clock import Clock, UtcDateTime, utc_now
from pilothouse.audit.service import Actor, AuditAction, AuditOutcome, record
from pilothouse.auth.principal import Principal, Scope
from pilothouse.bus.base import Bus, Message
from pilothouse.clusters.service import ClusterRegistry, ClusterView, ExecutorIdentity
from pilothouse.commands.models import OPEN_STATUSES, Command, CommandKind, CommandStatus
from pilothouse.commands.schemas import COMMAND_ID_PREFIX, ExecutorCommand, ExecutorResult
from pilothouse.commands.validation import args_after_verb, required_scope
from pilothouse.errors import (
    AgentDisconnected,
    BadRequest,
    CommandForbidden,
    NotFound,
    RequestTimeout,
    ValidationFailed,
)
from pilothouse.observability.logging import get_logger
from pilothouse.policy import redact
from pilothouse.sessions.service import SessionService
from pilothouse.settings import Settings
from pilothouse.store.database import Database

log = get_logger(__name__)

QUEUE_PREFIX = "commands."
RESULT_TOPIC_PREFIX = "command-results."
# Executor error text is a message, not a document.
MAX_ERROR_BYTES = 64 * 1024
# A long poll refreshes its executor's heartbeat this often, so a poll longer than the
# staleness limit does not make the cluster look disconnected while it waits.
_HEARTBEAT_FRACTION = 3


def queue_name(cluster_id: str) -> str:
    return f"{QUEUE_PREFIX}{cluster_id}"


def result_topic(command_id: str) -> str:
    return f"{RESULT_TOPIC_PREFIX}{command_id}"


def cap_text(text: str, max_bytes: int) -> tuple[str, bool]:
    """``text`` cut to at most ``max_bytes`` of UTF-8 (never inside a character)."""
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return text, False
    return encoded[:max_bytes].decode(errors="ignore"), True


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


_TIMESTAMP_COLUMNS = frozenset(
    column.key for column in Command.__table__.columns if isinstance(column.type, UtcDateTime)
)


def snapshot(row: Command) -> dict[str, Any]:
    """The row as JSON values (for the result topic)."""
    values: dict[str, Any] = {}
    for column in Command.__table__.columns:
        value = getattr(row, column.key)
        values[column.key] = value.isoformat() if isinstance(value, datetime) else value
    return values


def from_snapshot(values: dict[str, Any]) -> Command:
    """A detached row from ``snapshot`` (not attached to any database session)."""
    return Command(
        **{
            key: datetime.fromisoformat(value) if key in _TIMESTAMP_COLUMNS and value is not None else value
            for key, value in values.items()
        }
    )


def _set_committed(row: Command, values: dict[str, Any]) -> None:
    """Show values written with an UPDATE statement on the loaded row, without making it dirty
    (which would write them again at commit)."""
    for key, value in values.items():
        set_committed_value(row, key, value)


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
    ) -> None:
        self.database = database
        self.bus = bus
        self.registry = registry
        self.sessions = sessions
        self.clock = clock
        self._timeout_default = float(settings.command_timeout_default_seconds)
        self._timeout_max = float(settings.command_timeout_max_seconds)
        self._grace = settings.command_result_grace_seconds
        self._lease_seconds = settings.executor_lease_seconds
        self._max_deliveries = settings.command_max_deliveries
        self._max_output_bytes = settings.max_output_bytes
        self._heartbeat_every = settings.executor_stale_seconds / _HEARTBEAT_FRACTION

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

    async def submit(self, principal: Principal, prepared: PreparedCommand) -> Command:
        """Store the command (and count it on its session). 503 if no executor is connected:
        nothing is stored then, so nothing runs later by surprise."""
        if not self.registry.is_connected(prepared.cluster.last_seen):
            raise AgentDisconnected(prepared.cluster.id, last_seen=prepared.cluster.last_seen)
        now = self.clock()
        actor = principal.actor(correlation_id=prepared.correlation_id)
        async with self.database.session() as session:
            if prepared.session_id is not None:
                await self.sessions.record_command(
                    session, principal, prepared.session_id, prepared.cluster.id
                )
            row = Command(
                id=f"{COMMAND_ID_PREFIX}{uuid.uuid4().hex}",
                kind=prepared.kind.value,
                cluster_id=prepared.cluster.id,
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
                delivery_count=0,
                output_truncated=False,
            )
            session.add(row)
        return row

    async def start(self, row: Command) -> None:
        """Queue a stored command for its cluster's executors (async execution)."""
        await self.bus.enqueue(queue_name(row.cluster_id), {"command_id": row.id})

    async def run(self, row: Command, wait_seconds: float) -> Command:
        """Queue a stored command and wait for its result; 408 if it does not come in time."""
        async with self.bus.subscribe(result_topic(row.id)) as results:
            await self.start(row)
            message = await results.get(wait_seconds)
        published = message.get("command") if message is not None else None
        final = from_snapshot(published) if isinstance(published, dict) else None
        if final is None or final.status in OPEN_STATUSES:
            # No notification (topics are at most once) or not a final one: the row decides.
            async with self.database.session() as session:
                final = await self._row(session, row.id)
                if final.status in OPEN_STATUSES:
                    await self._finish(
                        session, final, CommandStatus.TIMEOUT, error=f"no result within {wait_seconds:g} s"
                    )
        if final.status == CommandStatus.TIMEOUT:
            raise RequestTimeout(
                f"Command timed out: {row.id}",
                details={
                    "command_id": row.id,
                    "result_id": row.id,
                    "timeout_seconds": final.timeout_seconds,
                    "result_url": f"/debug/result/{row.id}",
                },
            )
        return final

    async def ping(self, principal: Principal, prepared: PreparedCommand) -> tuple[Command, float]:
        """Send a ping through the executor; the row and the round trip in milliseconds."""
        row = await self.submit(principal, prepared)
        started = time.perf_counter()
        final = await self.run(row, prepared.wait_seconds)
        return final, (time.perf_counter() - started) * 1000

    async def result_for(self, principal: Principal, command_id: str) -> Command:
        """A command of this key (any command for an admin), its deadline applied."""
        async with self.database.session() as session:
            row = await session.get(Command, command_id)
            if row is None or not (principal.is_admin or row.key_id == principal.key_id):
                raise NotFound.of("command", command_id)
            if row.status in OPEN_STATUSES and self.clock() >= row.deadline:
                # Nobody waits on async commands: their deadline is applied when they are read.
                await self._finish(session, row, CommandStatus.TIMEOUT, error="no result before the deadline")
            return row

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
        async with self.database.session() as session:
            row = await session.get(Command, command_id)
            if row is None or row.cluster_id != executor.cluster_id:
                raise NotFound.of("command", command_id)
            # Conditional, so that of two results racing on two replicas exactly one is stored.
            stored = _rowcount(
                await session.execute(
                    update(Command)
                    .where(Command.id == command_id, Command.result_received_at.is_(None))
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
            )
            if stored:
                _set_committed(row, values)
                if result.timed_out:
                    status = CommandStatus.TIMEOUT
                else:
                    status = CommandStatus.SUCCESS if result.success else CommandStatus.FAILURE
                await self._finish(session, row, status, now=now)
            message_id = row.queue_message_id
        if message_id is not None:
            await self.bus.ack(queue_name(executor.cluster_id), message_id)
        if stored:
            # The whole row, so that a waiting caller needs no second read.
            await self.bus.publish(
                result_topic(command_id), {"command_id": command_id, "command": snapshot(row)}
            )
        else:
            log.info("duplicate_result_ignored", command_id=command_id, executor_id=executor.executor_id)
        return bool(stored)

    async def queue_depth(self, cluster_id: str) -> int:
        """Commands waiting for an executor: stored, not yet leased, still before their deadline."""
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

    async def _claim(self, message: Message, executor: ExecutorIdentity) -> ExecutorCommand | None:
        """The command a leased message carries, if it should still run; otherwise the message
        is acknowledged (dropped) and None returned."""
        command_id = message.payload.get("command_id")
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
        if message.delivery_count > 1:
            log.info(
                "command_redelivered",
                command_id=row.id,
                delivery=row.delivery_count,
                executor=executor.executor_id,
            )
        return ExecutorCommand(
            id=row.id,
            kind=row.kind,
            args=row.args,
            timeout=row.timeout_seconds,
            session_id=row.session_id,
            correlation_id=row.correlation_id,
            lease_seconds=self._lease_seconds,
        )

    async def _finish(
        self,
        session: AsyncSession,
        row: Command,
        status: CommandStatus,
        *,
        error: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Make an open command final, once, and audit it. False if it was already final."""
        now = now or self.clock()
        values: dict[str, Any] = {"status": status.value, "completed_at": now}
        if error is not None and row.result_received_at is None:
            values["error"] = error
            values["success"] = False
        changed = _rowcount(
            await session.execute(
                update(Command)
                .where(Command.id == row.id, Command.status.in_([value.value for value in OPEN_STATUSES]))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        )
        if not changed:
            # Someone else made it final first; show what they stored.
            await session.refresh(row)
            return False
        _set_committed(row, values)
        record(
            session,
            action=AuditAction.CLUSTER_PING if row.kind == CommandKind.PING else AuditAction.COMMAND_EXECUTE,
            outcome=AuditOutcome(status.value),
            actor=Actor(
                key_id=row.key_id,
                name=row.principal_name,
                service_identity=row.service_identity,
                correlation_id=row.correlation_id,
                request_id=row.request_id,
            ),
            occurred_at=now,
            cluster_id=row.cluster_id,
            session_id=row.session_id,
            command_id=row.id,
            args=row.args,
            reason=row.error if status != CommandStatus.SUCCESS else None,
            duration_ms=max(0, round((now - row.created_at).total_seconds() * 1000)),
            details={
                "command_type": row.command_type,
                "exit_code": row.exit_code,
                "deliveries": row.delivery_count,
                "executor_id": row.executed_by,
            },
        )
        return True

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
