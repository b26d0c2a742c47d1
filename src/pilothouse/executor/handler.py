"""What one command becomes: a policy verdict, a kubectl run, and the result the server receives.

The server has already checked a kubectl command with its copy of the policy; the executor checks
it again with its own mode and its own cluster's discovery, and its verdict wins. Everything the
executor sends back is redacted here, before it leaves the cluster.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from pilothouse.executor.discovery import ResourceDiscovery
from pilothouse.executor.protocol import KIND_KUBECTL, KIND_PING, PONG, Command, CommandResult
from pilothouse.executor.runner import CapturedOutput, ProcessOutcome
from pilothouse.observability.logging import get_logger
from pilothouse.policy import CommandPolicy, DecisionCode, PolicyDecision, SecurityMode, redact

log = get_logger("pilothouse.executor.handler")

DENIED_PREFIX = "denied by executor policy: "
UNAVAILABLE_PREFIX = "executor policy unavailable: "
# A type unknown to discovery may be a CRD created a moment ago: discovery runs again before the
# command is denied, but not more often than this (the command may wait that long).
UNKNOWN_RESOURCE_REFRESH_SECONDS = 2.0
# Before the first discovery succeeds, a command waits for one more attempt at most this often.
INITIAL_DISCOVERY_RETRY_SECONDS = 5.0


class CommandRunner(Protocol):
    async def run(
        self, args: Sequence[str], *, time_limit: float, max_output_bytes: int
    ) -> ProcessOutcome: ...


class Handler(Protocol):
    """What the agent loop needs from command handling."""

    async def handle(self, command: Command) -> CommandResult: ...


class CommandHandler:
    def __init__(
        self,
        *,
        mode: SecurityMode,
        discovery: ResourceDiscovery,
        kubectl: CommandRunner,
        max_output_bytes: int,
        unknown_resource_refresh_seconds: float = UNKNOWN_RESOURCE_REFRESH_SECONDS,
    ) -> None:
        self._mode = mode
        self._discovery = discovery
        self._kubectl = kubectl
        self._max_output_bytes = max_output_bytes
        self._unknown_resource_refresh = unknown_resource_refresh_seconds

    async def handle(self, command: Command) -> CommandResult:
        started = time.monotonic()
        if command.kind == KIND_PING:
            return CommandResult(success=True, output=PONG, exit_code=0, execution_time_ms=0)
        if command.kind != KIND_KUBECTL:
            known = f"{KIND_KUBECTL!r} and {KIND_PING!r}"
            return CommandResult.failure(f"unknown command kind {command.kind!r}; this executor runs {known}")
        decision = await self._decide(command.args)
        if not decision.allowed or decision.command is None:
            return CommandResult.failure(decision.reason, execution_time_ms=_elapsed_ms(started))
        outcome = await self._kubectl.run(
            decision.command.argv, time_limit=command.timeout, max_output_bytes=self._max_output_bytes
        )
        return kubectl_result(outcome, timeout=command.timeout, execution_time_ms=_elapsed_ms(started))

    async def _decide(self, args: Sequence[str]) -> PolicyDecision:
        """The executor's verdict. Its ``reason`` is the complete error text when denied."""
        if self._discovery.catalog is None:
            await self._discovery.refresh_unless_recent(INITIAL_DISCOVERY_RETRY_SECONDS)
        attempts, generation = self._discovery.attempts, self._discovery.generation
        decision = self._decide_now(args)
        if decision.code == DecisionCode.UNKNOWN_RESOURCE:
            await self._discovery.refresh_after(attempts, min_interval=self._unknown_resource_refresh)
            if self._discovery.generation != generation:
                decision = self._decide_now(args)
        return decision

    def _decide_now(self, args: Sequence[str]) -> PolicyDecision:
        catalog = self._discovery.catalog
        if catalog is None:
            cause = self._discovery.last_error or "no discovery has completed yet"
            return _refusal(
                f"{UNAVAILABLE_PREFIX}resource discovery failed ({cause}); refusing every command"
            )
        try:
            decision = CommandPolicy(self._mode, catalog).decide(args)
        except Exception as error:  # a policy bug must deny, never allow by accident
            log.exception("executor.policy.crashed")
            return _refusal(f"{UNAVAILABLE_PREFIX}the policy failed ({type(error).__name__})")
        if decision.allowed:
            return decision
        return PolicyDecision(False, f"{DENIED_PREFIX}{decision.reason}", decision.code)


def _refusal(reason: str) -> PolicyDecision:
    return PolicyDecision(False, reason, "POLICY_UNAVAILABLE")


def kubectl_result(outcome: ProcessOutcome, *, timeout: float, execution_time_ms: int) -> CommandResult:
    """The result of a kubectl run, redacted.

    ``output`` is stdout; when stdout is empty it is stderr instead, since kubectl reports some
    plain outcomes there ("No resources found in shop namespace."). ``error`` is the rest of
    stderr (warnings on success), or why the command failed. stdout and stderr are never mixed,
    so ``-o json`` output stays parseable.
    """
    stdout, stderr = _text(outcome.stdout), _text(outcome.stderr)
    if outcome.timed_out:
        reason = f"timed out after {timeout:g} s; kubectl and its process group were killed"
        return CommandResult(
            success=False,
            output=stdout,
            error=f"{reason}\n{stderr}" if stderr else reason,
            exit_code=None,
            execution_time_ms=execution_time_ms,
            timed_out=True,
        )
    code = outcome.exit_code
    if code == 0:
        output, error = (stdout, stderr or None) if stdout else (stderr, None)
        return CommandResult(
            success=True, output=output, error=error, exit_code=0, execution_time_ms=execution_time_ms
        )
    if not stderr and code is not None and code < 0:
        stderr = f"kubectl was killed by signal {-code}"
    elif not stderr:
        stderr = f"kubectl exited with {code}"
    return CommandResult(
        success=False, output=stdout, error=stderr, exit_code=code, execution_time_ms=execution_time_ms
    )


def truncation_marker(captured: CapturedOutput) -> str:
    return f"\n[output truncated: kept the first {len(captured.data)} of {captured.total_bytes} bytes]"


def _text(captured: CapturedOutput) -> str:
    # Redact before adding the marker: the redactor recognises a Secret cut off at the very end of
    # the text, which it could not if the marker came after it.
    text = redact(captured.data.decode(errors="replace"))
    return f"{text}{truncation_marker(captured)}" if captured.truncated else text


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
