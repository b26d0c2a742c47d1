"""The executor's loop: long-poll for commands, run them with bounded concurrency, post results.

Delivery is at least once: the server leases each command and hands it out again if no result
arrives in time. So this loop never has to be clever about losing work: if it dies, the lease
expires and the command comes back. It only has to avoid running a command twice *at the same
time* (a lease that ran out while the command was still running here) and to keep posting a
result until the server has it or clearly does not want it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pilothouse.executor.backoff import Backoff
from pilothouse.executor.client import AgentClient, AgentClientError, Unauthorized, UnknownCommand
from pilothouse.executor.handler import Handler
from pilothouse.executor.protocol import Command, CommandResult, MalformedCommand
from pilothouse.observability.logging import get_logger

log = get_logger("pilothouse.executor.agent")

EXIT_OK = 0
EXIT_UNAUTHORIZED = 3

RESULT_ATTEMPTS = 5  # over about 7 s; after that the lease brings the command back anyway
# A server that answers empty polls at once (wait=0, or one that does not hold polls) is asked at
# most this often, instead of in a tight loop.
MIN_EMPTY_POLL_INTERVAL = 1.0
_T = TypeVar("_T")


class _Stopped(Exception):
    """The stop event fired while waiting for the server."""


class Agent:
    def __init__(
        self,
        client: AgentClient,
        handler: Handler,
        *,
        concurrency: int,
        poll_wait_seconds: int,
        heartbeat_seconds: float,
        reconnect: Backoff,
        max_unauthorized: int,
        stop: asyncio.Event | None = None,
        result_retry: Callable[[], Backoff] = lambda: Backoff(0.5, 8.0),
    ) -> None:
        self._client = client
        self._handler = handler
        self._concurrency = concurrency
        self._poll_wait = poll_wait_seconds
        self._heartbeat_seconds = heartbeat_seconds
        self._reconnect = reconnect
        self._result_retry = result_retry
        self._max_unauthorized = max_unauthorized
        self._stop = stop if stop is not None else asyncio.Event()
        # Commands received and not yet reported, by id. More than `concurrency` only when one
        # answer brought more commands than free slots; the extra ones wait for `_slots`.
        self._running: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._slot_freed = asyncio.Event()
        self._unauthorized = 0
        self._connected = False

    @property
    def inflight(self) -> int:
        return len(self._running)

    def stop(self) -> None:
        """Stop polling; ``run()`` returns once running commands are done and reported."""
        self._stop.set()

    async def run(self) -> int:
        """Serve until stopped (exit 0) or the token is refused repeatedly (``EXIT_UNAUTHORIZED``)."""
        log.info("executor.started", concurrency=self._concurrency)
        try:
            code = await self._serve()
        except BaseException:
            # Cancelled (or a bug): kill what runs rather than wait; leases bring the commands back.
            await self._cancel_running()
            raise
        await self._drain()
        log.info("executor.stopped", exit_code=code)
        return code

    async def _serve(self) -> int:
        while not self._stop.is_set():
            if self.inflight >= self._concurrency:
                await self._wait_for_slot()
                continue
            polled_at = time.monotonic()
            try:
                commands, malformed = await self._unless_stopped(
                    self._client.poll(self._poll_wait, inflight=self.inflight)
                )
            except _Stopped:
                break
            except Unauthorized as error:
                self._unauthorized += 1
                log.error("executor.unauthorized", error=str(error), attempt=self._unauthorized)
                if self._unauthorized >= self._max_unauthorized:
                    log.error("executor.giving_up", reason="the server refuses this executor's token")
                    return EXIT_UNAUTHORIZED
                await self._pause(self._reconnect.next_delay())
                continue
            except AgentClientError as error:
                delay = self._reconnect.next_delay()
                self._connected = False
                log.warning("executor.server_unavailable", error=str(error), retry_in=round(delay, 2))
                await self._pause(delay)
                continue
            self._answered()
            for item in malformed:
                self._reject(item)
            for command in commands:
                self._start(command)
            if not commands and not malformed:
                await self._pause(MIN_EMPTY_POLL_INTERVAL - (time.monotonic() - polled_at))
        return EXIT_OK

    def _answered(self) -> None:
        if not self._connected:
            log.info("executor.connected")
            self._connected = True
        self._reconnect.reset()
        self._unauthorized = 0

    # --- commands -----------------------------------------------------------------------------

    def _start(self, command: Command) -> None:
        if command.id in self._running:
            # Its lease ran out while it still runs here; the result on its way answers both.
            log.info("executor.command.already_running", command_id=command.id)
            return
        self._track(command.id, self._execute(command))

    def _reject(self, malformed: MalformedCommand) -> None:
        if malformed.command_id is None:
            log.error("executor.command.malformed", problem=malformed.problem)
            return
        result = CommandResult.failure(f"malformed command: {malformed.problem}")
        self._track(malformed.command_id, self._report(malformed.command_id, result))

    def _track(self, command_id: str, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._running[command_id] = task

        def finished(_: asyncio.Future[None]) -> None:
            self._running.pop(command_id, None)
            self._slot_freed.set()

        task.add_done_callback(finished)

    async def _execute(self, command: Command) -> None:
        bound = log.bind(command_id=command.id, kind=command.kind, correlation_id=command.correlation_id)
        async with self._slots:
            try:
                result = await self._handler.handle(command)
            except Exception as error:  # a bug must still produce a result, or it is redelivered forever
                bound.exception("executor.command.crashed")
                result = CommandResult.failure(f"executor error: {type(error).__name__}")
        bound.info(
            "executor.command.done",
            success=result.success,
            exit_code=result.exit_code,
            execution_time_ms=result.execution_time_ms,
        )
        await self._report(command.id, result)

    async def _report(self, command_id: str, result: CommandResult) -> None:
        delays = self._result_retry()
        for attempt in range(1, RESULT_ATTEMPTS + 1):
            try:
                await self._client.post_result(command_id, result, inflight=self.inflight)
                return
            except UnknownCommand:
                log.warning("executor.result.unknown_command", command_id=command_id)
                return
            except AgentClientError as error:
                if attempt == RESULT_ATTEMPTS:
                    log.error(
                        "executor.result.not_delivered",
                        command_id=command_id,
                        error=str(error),
                        note="the server redelivers the command when its lease expires",
                    )
                    return
                await asyncio.sleep(delays.next_delay())

    # --- waiting ------------------------------------------------------------------------------

    async def _wait_for_slot(self) -> None:
        """Wait for a command to finish; heartbeat meanwhile, since nothing else talks to the server."""
        self._slot_freed.clear()
        if self.inflight < self._concurrency:
            return
        try:
            await self._unless_stopped(asyncio.wait_for(self._slot_freed.wait(), self._heartbeat_seconds))
        except (_Stopped, TimeoutError):
            pass
        else:
            return
        if self._stop.is_set():
            return
        try:
            await self._client.status(inflight=self.inflight)
        except AgentClientError as error:
            log.warning("executor.heartbeat_failed", error=str(error))

    async def _pause(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _unless_stopped(self, awaitable: Awaitable[_T]) -> _T:
        """``awaitable``'s result, or ``_Stopped`` (after cancelling it) if the stop event fires first.

        Cancelling a long-poll can lose a command the server just leased to us; its lease expiry
        returns it to the queue, so stopping promptly costs at most one lease of delay.
        """
        work = asyncio.ensure_future(awaitable)
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not work.done():
                work.cancel()
                await asyncio.wait({work})  # let it unwind (close its connection) first
        if work.cancelled():
            raise _Stopped
        return work.result()

    async def _drain(self) -> None:
        if self._running:
            log.info("executor.draining", commands=len(self._running))
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _cancel_running(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
