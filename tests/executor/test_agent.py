"""The loop against the protocol double on a real uvicorn: concurrency, leases, retries, back-off,
401s and draining. Commands are handled by a scripted handler, so only the loop is under test."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from pilothouse.executor.agent import EXIT_OK, EXIT_UNAUTHORIZED, Agent
from pilothouse.executor.backoff import Backoff
from pilothouse.executor.client import AgentClient
from pilothouse.executor.protocol import Command, CommandResult
from pilothouse.executor.testing import ProtocolDouble, free_port


@dataclass
class ScriptedHandler:
    """Runs a command until the test releases it (or at once if ``hold`` is False)."""

    hold: bool = True
    handled: list[str] = field(default_factory=list)
    running: int = 0
    most_running: int = 0
    releases: dict[str, asyncio.Event] = field(default_factory=dict)
    crash_on: str | None = None

    def release(self, command_id: str | None = None) -> None:
        for key, event in self.releases.items():
            if command_id in (None, key):
                event.set()

    async def started(self, count: int, seconds: float = 5.0) -> None:
        await until(lambda: len(self.handled) >= count, seconds)

    async def handle(self, command: Command) -> CommandResult:
        self.handled.append(command.id)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if self.hold:
                await self.releases.setdefault(command.id, asyncio.Event()).wait()
            if command.id == self.crash_on:
                raise RuntimeError("handler bug")
            return CommandResult(success=True, output=f"done {command.id}", exit_code=0, execution_time_ms=1)
        finally:
            self.running -= 1


@dataclass
class Harness:
    double: ProtocolDouble
    handler: ScriptedHandler
    agent: Agent
    task: asyncio.Task[int]

    async def stop(self, seconds: float = 10.0) -> int:
        self.agent.stop()
        return await asyncio.wait_for(self.task, seconds)


@asynccontextmanager
async def agent_for(
    url: str,
    double: ProtocolDouble,
    handler: ScriptedHandler | None = None,
    *,
    concurrency: int = 4,
    token: str | None = None,
    heartbeat_seconds: float = 15.0,
    poll_wait_seconds: int = 5,
) -> AsyncIterator[Harness]:
    handler = handler or ScriptedHandler()
    async with AgentClient(
        url, cluster_id=double.cluster_id, token=token or double.token, executor_id="exe_test"
    ) as client:
        agent = Agent(
            client,
            handler,
            concurrency=concurrency,
            poll_wait_seconds=poll_wait_seconds,
            heartbeat_seconds=heartbeat_seconds,
            reconnect=Backoff(0.5, 30.0),
            max_unauthorized=3,
            result_retry=lambda: Backoff(0.1, 0.4),
        )
        harness = Harness(double, handler, agent, asyncio.create_task(agent.run()))
        try:
            yield harness
        finally:
            handler.release()
            if not harness.task.done():
                await harness.stop()


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


def polls(double: ProtocolDouble) -> list[int]:
    """The in-flight count each poll reported."""
    return [visit.inflight for visit in double.visits if visit.path == "/agent/commands"]


# --- concurrency --------------------------------------------------------------------------------


async def test_more_commands_than_slots_run_at_most_concurrency_at_once(
    double: ProtocolDouble, server_url: str
) -> None:
    ids = [double.enqueue(["get", "pods"]) for _ in range(6)]  # one answer brings all six
    async with agent_for(server_url, double, concurrency=2) as harness:
        await harness.handler.started(2)
        await asyncio.sleep(0.3)
        assert harness.handler.running == 2
        for command_id in ids:
            harness.handler.release(command_id)
            await asyncio.sleep(0.02)
        results = [await double.wait_result(command_id) for command_id in ids]
    assert harness.handler.most_running == 2
    assert all(
        result["output"] == f"done {command_id}" for result, command_id in zip(results, ids, strict=True)
    )
    assert all(inflight < 2 for inflight in polls(double))  # never polled while saturated


async def test_it_keeps_polling_while_slots_are_free(double: ProtocolDouble, server_url: str) -> None:
    double.max_batch = 1
    async with agent_for(server_url, double, concurrency=3) as harness:
        for _ in range(3):
            double.enqueue(["get", "pods"])
        await harness.handler.started(3)
        assert harness.handler.running == 3
        assert polls(double)[:3] == [0, 1, 2]  # each poll reported what was already running


async def test_while_saturated_it_heartbeats_through_status(double: ProtocolDouble, server_url: str) -> None:
    async with agent_for(server_url, double, concurrency=1, heartbeat_seconds=0.2) as harness:
        command_id = double.enqueue(["get", "pods"])
        await harness.handler.started(1)
        await until(lambda: sum(visit.path == "/agent/status" for visit in double.visits) >= 2)
        status_visits = [visit for visit in double.visits if visit.path == "/agent/status"]
        assert all(visit.inflight == 1 for visit in status_visits)
        harness.handler.release(command_id)
        await double.wait_result(command_id)


# --- leases and results -------------------------------------------------------------------------


async def test_a_redelivered_command_still_running_here_is_not_run_twice(
    double: ProtocolDouble, server_url: str
) -> None:
    async with agent_for(server_url, double, concurrency=2) as harness:
        command_id = double.enqueue(["get", "pods"], lease_seconds=0.3)
        await until(lambda: len(double.commands[command_id].deliveries) >= 2)
        harness.handler.release(command_id)
        await double.wait_result(command_id)
    assert harness.handler.handled == [command_id]
    assert double.result_posts == [(command_id, "exe_test")]


async def test_a_result_is_retried_until_the_server_takes_it(double: ProtocolDouble, server_url: str) -> None:
    async with agent_for(server_url, double) as harness:
        command_id = double.enqueue(["get", "pods"])
        await harness.handler.started(1)
        double.fail_with = 503
        harness.handler.release(command_id)
        await until(lambda: sum(path == "/agent/results" for path, _ in double.attempts) >= 2)
        double.fail_with = None
        result = await double.wait_result(command_id)
    assert result["success"]


async def test_a_result_for_a_command_the_server_forgot_is_not_retried(
    double: ProtocolDouble, server_url: str
) -> None:
    async with agent_for(server_url, double) as harness:
        command_id = double.enqueue(["get", "pods"])
        await harness.handler.started(1)
        del double.commands[command_id]
        harness.handler.release(command_id)
        await until(lambda: harness.agent.inflight == 0)
        await asyncio.sleep(0.5)
    assert sum(path == "/agent/results" for path, _ in double.attempts) == 1


async def test_a_crashing_handler_still_produces_a_result(double: ProtocolDouble, server_url: str) -> None:
    handler = ScriptedHandler(hold=False)
    async with agent_for(server_url, double, handler) as harness:
        command_id = double.enqueue(["get", "pods"])
        harness.handler.crash_on = command_id
        result = await double.wait_result(command_id)
    assert result == {
        "success": False,
        "output": "",
        "error": "executor error: RuntimeError",
        "exit_code": None,
        "execution_time_ms": 0,
        "timed_out": False,
    }


async def test_a_malformed_command_gets_a_failed_result_instead_of_endless_redelivery(
    double: ProtocolDouble, server_url: str
) -> None:
    command_id = double.enqueue()
    double.commands[command_id].body["args"] = "get pods"  # a string, as a shell would want
    async with agent_for(server_url, double, ScriptedHandler(hold=False)) as harness:
        result = await double.wait_result(command_id)
    assert not result["success"]
    assert result["error"].startswith("malformed command: args")
    assert harness.handler.handled == []


# --- connection trouble -------------------------------------------------------------------------


async def test_5xx_answers_back_off_exponentially_with_jitter(
    double: ProtocolDouble, server_url: str
) -> None:
    double.fail_with = 503
    async with agent_for(server_url, double):
        await asyncio.sleep(3.2)
        attempts = [at for path, at in double.attempts if path == "/agent/commands"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    # Delays lie in [base/2, base] for base 0.5, 1, 2; allow for a slow machine on the upper side.
    assert 3 <= len(attempts) <= 5, gaps
    for gap, base in zip(gaps, (0.5, 1.0, 2.0), strict=False):
        assert base / 2 - 0.02 <= gap <= base + 0.3, gaps


async def test_it_reconnects_when_the_server_comes_back(double: ProtocolDouble) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with agent_for(url, double) as harness:
        await asyncio.sleep(1.2)  # connection refused a few times meanwhile
        assert harness.agent.inflight == 0
        async with double.serve(port=port):
            started = time.monotonic()
            command_id = double.enqueue(["get", "pods"])
            harness.handler.release(command_id)
            harness.handler.hold = False
            result = await double.wait_result(command_id, seconds=10)
            # The next attempt is at most one back-off step (2 s at this point) away.
            assert time.monotonic() - started < 3.0
    assert result["success"]


async def test_a_restarted_server_is_picked_up_again(double: ProtocolDouble) -> None:
    """The pooled keep-alive connection to the old server is dead; the loop must not be."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with agent_for(url, double, ScriptedHandler(hold=False)):
        async with double.serve(port=port):
            first = double.enqueue(kind="ping")
            assert (await double.wait_result(first))["success"]
        await asyncio.sleep(0.5)
        async with double.serve(port=port):
            second = double.enqueue(kind="ping")
            assert (await double.wait_result(second, seconds=10))["success"]


async def test_a_server_that_does_not_hold_polls_is_not_hammered(
    double: ProtocolDouble, server_url: str
) -> None:
    async with agent_for(server_url, double, poll_wait_seconds=0):
        await asyncio.sleep(2.5)
    assert 2 <= len(polls(double)) <= 3


async def test_401_three_times_in_a_row_ends_the_loop(double: ProtocolDouble, server_url: str) -> None:
    async with agent_for(server_url, double, token="wrong") as harness:
        code = await asyncio.wait_for(harness.task, 10)
    assert code == EXIT_UNAUTHORIZED
    assert [path for path, _ in double.attempts] == ["/agent/commands"] * 3


# --- stopping -----------------------------------------------------------------------------------


async def test_stop_finishes_running_commands_posts_their_results_and_polls_no_more(
    double: ProtocolDouble, server_url: str
) -> None:
    async with agent_for(server_url, double, poll_wait_seconds=30) as harness:
        command_id = double.enqueue(["get", "pods"])
        await harness.handler.started(1)
        harness.agent.stop()
        await asyncio.sleep(0.3)
        assert not harness.task.done()  # waiting for the running command
        polls_at_stop = len(polls(double))
        late = double.enqueue(kind="ping")
        await asyncio.sleep(0.3)
        harness.handler.release(command_id)
        assert await asyncio.wait_for(harness.task, 5) == EXIT_OK
    assert double.commands[command_id].result is not None
    assert double.commands[late].deliveries == []
    assert len(polls(double)) == polls_at_stop


async def test_stop_while_idle_ends_the_long_poll_at_once(double: ProtocolDouble, server_url: str) -> None:
    async with agent_for(server_url, double, poll_wait_seconds=30) as harness:
        await until(lambda: len(polls(double)) >= 1)
        await asyncio.sleep(0.1)
        started = time.monotonic()
        assert await harness.stop() == EXIT_OK
        assert time.monotonic() - started < 1.0


async def test_cancelling_the_loop_cancels_running_commands(double: ProtocolDouble, server_url: str) -> None:
    async with agent_for(server_url, double) as harness:
        double.enqueue(["get", "pods"])
        await harness.handler.started(1)
        harness.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await harness.task
        assert harness.handler.running == 0
