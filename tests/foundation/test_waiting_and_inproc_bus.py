"""``pilothouse.waiting`` (a plain future with a timer as the deadline) and the in-process bus's
consumers waiting on it: a wake is never lost to a cancelled consumer, a consumer that gives up
leaves nothing behind, and each waiting consumer gets its own message.

What every Bus implementation must do is in ``test_bus_contract.py``; these look inside the
in-process one (its queues' waiters) and at its timers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from pilothouse.bus.base import Message
from pilothouse.bus.inproc import InProcessBus
from pilothouse.waiting import outlast_cancellation, resolve, wait_on

# A lost wake shows as a consumer that waits its whole (long) wait: fail instead of hanging.
pytestmark = pytest.mark.timeout(30)

LONG_WAIT = 30.0
QUEUE = "work"


@pytest.fixture
async def resolve_timers(monkeypatch: pytest.MonkeyPatch) -> list[asyncio.TimerHandle]:
    """The timers set on this test's loop to resolve a waiter (``wait_on``'s), as they are set."""
    loop = asyncio.get_running_loop()
    real_call_later = loop.call_later
    timers: list[asyncio.TimerHandle] = []

    def call_later(delay: float, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        timer = real_call_later(delay, callback, *args, **kwargs)
        if callback is resolve:
            timers.append(timer)
        return timer

    monkeypatch.setattr(loop, "call_later", call_later)
    return timers


async def until(condition: Callable[[], bool], turns: int = 100) -> None:
    """Let the loop run until ``condition`` holds: at most ``turns`` iterations, no clock."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"not reached in {turns} turns of the loop")


def waiters(bus: InProcessBus, queue: str = QUEUE) -> list[asyncio.Future[None]]:
    return list(bus._queue(queue).waiters)


async def waiting_consumer(bus: InProcessBus, name: str, waiting: int) -> asyncio.Task[Message | None]:
    """A consumer in ``lease`` with a long wait, once it waits (the ``waiting``-th waiter)."""
    task = asyncio.create_task(bus.lease(QUEUE, name, wait_seconds=LONG_WAIT, lease_seconds=30))
    await until(lambda: len(waiters(bus)) == waiting)
    return task


# --- wait_on and resolve -----------------------------------------------------------------------


async def test_wait_on_returns_when_resolved_before_its_time(
    resolve_timers: list[asyncio.TimerHandle],
) -> None:
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    loop.call_soon(resolve, waiter)
    async with asyncio.timeout(5):
        await wait_on(waiter, LONG_WAIT)
    assert waiter.result() is None
    # Its timer will not fire later.
    assert len(resolve_timers) == 1
    assert resolve_timers[0].cancelled()


async def test_wait_on_resolves_the_waiter_when_its_time_passes(
    resolve_timers: list[asyncio.TimerHandle],
) -> None:
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    started = loop.time()
    await wait_on(waiter, 0.05)
    assert loop.time() - started >= 0.045
    assert waiter.done()
    assert waiter.result() is None
    assert len(resolve_timers) == 1


async def test_wait_on_with_no_time_left_returns_at_once() -> None:
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    async with asyncio.timeout(5):
        await wait_on(waiter, -1.0)
    assert waiter.result() is None


async def test_cancelled_wait_on_cancels_its_timer(resolve_timers: list[asyncio.TimerHandle]) -> None:
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    task = asyncio.create_task(wait_on(waiter, LONG_WAIT))
    await until(lambda: len(resolve_timers) == 1)
    assert not resolve_timers[0].cancelled()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert resolve_timers[0].cancelled()
    assert waiter.cancelled()


async def test_resolve_wakes_a_pending_waiter_and_leaves_a_done_one_alone() -> None:
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[None] = loop.create_future()
    resolve(pending)
    assert pending.result() is None
    # Already done, in every way: nothing changes, nothing raises.
    resolve(pending)
    assert pending.result() is None

    cancelled: asyncio.Future[None] = loop.create_future()
    cancelled.cancel()
    resolve(cancelled)
    assert cancelled.cancelled()

    failed: asyncio.Future[None] = loop.create_future()
    failed.set_exception(RuntimeError("boom"))
    resolve(failed)
    assert isinstance(failed.exception(), RuntimeError)


# --- the in-process bus's waiting consumers ------------------------------------------------


async def test_wake_of_a_consumer_cancelled_before_it_runs_goes_to_another(
    resolve_timers: list[asyncio.TimerHandle],
) -> None:
    bus = InProcessBus()
    first = await waiting_consumer(bus, "executor-a", waiting=1)
    second = await waiting_consumer(bus, "executor-b", waiting=2)
    first_waiter, second_waiter = waiters(bus)

    message_id = await bus.enqueue(QUEUE, {"n": 1})
    # The oldest waiter is woken, the other is not...
    assert first_waiter.done()
    assert not second_waiter.done()
    # ...and its consumer is cancelled before it has run (say, its request went away).
    first.cancel()

    # The other consumer gets the message now, not when its 30 s wait ends.
    async with asyncio.timeout(5):
        message = await second
    assert message is not None
    assert (message.id, message.payload, message.delivery_count) == (message_id, {"n": 1}, 1)
    with pytest.raises(asyncio.CancelledError):
        await first
    assert waiters(bus) == []
    assert all(timer.cancelled() for timer in resolve_timers)
    assert await bus.queue_depth(QUEUE) == 1


async def test_cancelled_consumer_that_was_not_woken_leaves_no_waiter(
    resolve_timers: list[asyncio.TimerHandle],
) -> None:
    bus = InProcessBus()
    consumer = await waiting_consumer(bus, "executor-a", waiting=1)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert waiters(bus) == []
    assert all(timer.cancelled() for timer in resolve_timers)
    # Work enqueued later is there for the next consumer.
    await bus.enqueue(QUEUE, {"n": 1})
    assert await bus.lease(QUEUE, "executor-b", wait_seconds=0, lease_seconds=30) is not None


async def test_timed_out_lease_returns_none_and_leaves_no_waiter(
    resolve_timers: list[asyncio.TimerHandle],
) -> None:
    bus = InProcessBus()
    assert await bus.lease(QUEUE, "executor-a", wait_seconds=0.05, lease_seconds=30) is None
    assert waiters(bus) == []
    assert len(resolve_timers) == 1
    assert resolve_timers[0].cancelled()


async def test_consumer_woken_for_work_someone_else_took_waits_again_then_times_out_cleanly(
    resolve_timers: list[asyncio.TimerHandle],
) -> None:
    bus = InProcessBus()
    consumer = asyncio.create_task(bus.lease(QUEUE, "executor-a", wait_seconds=0.2, lease_seconds=30))
    await until(lambda: len(waiters(bus)) == 1)
    (woken,) = waiters(bus)
    await bus.enqueue(QUEUE, {"n": 1})
    # Taken by a consumer that did not wait, before the woken one runs.
    assert await bus.lease(QUEUE, "executor-b", wait_seconds=0, lease_seconds=30) is not None
    assert woken.done()
    # The woken consumer looks, finds nothing, and waits again (a new waiter of its own).
    await until(lambda: len(waiters(bus)) == 1 and waiters(bus)[0] is not woken)
    assert await consumer is None
    assert waiters(bus) == []
    assert len(resolve_timers) == 2
    assert all(timer.cancelled() for timer in resolve_timers)


@pytest.mark.parametrize("yield_between", [False, True], ids=["back-to-back", "one-by-one"])
async def test_each_waiting_consumer_gets_a_distinct_message(
    yield_between: bool, resolve_timers: list[asyncio.TimerHandle]
) -> None:
    bus = InProcessBus()
    count = 8
    consumers = [await waiting_consumer(bus, f"executor-{n}", waiting=n + 1) for n in range(count)]
    sent = []
    for n in range(count):
        sent.append(await bus.enqueue(QUEUE, {"n": n}))
        if yield_between:
            await asyncio.sleep(0)
    async with asyncio.timeout(5):
        received = await asyncio.gather(*consumers)
    messages = [message for message in received if message is not None]
    assert len(messages) == count
    assert sorted(message.id for message in messages) == sorted(sent)
    assert sorted(message.payload["n"] for message in messages) == list(range(count))
    assert {message.delivery_count for message in messages} == {1}
    assert waiters(bus) == []
    assert all(timer.cancelled() for timer in resolve_timers)
    assert await bus.lease(QUEUE, "executor-late", wait_seconds=0, lease_seconds=30) is None


async def test_fewer_messages_than_waiting_consumers_go_one_each_and_the_rest_wait() -> None:
    bus = InProcessBus()
    count, sent_count = 8, 5
    consumers = [await waiting_consumer(bus, f"executor-{n}", waiting=n + 1) for n in range(count)]
    sent = [await bus.enqueue(QUEUE, {"n": n}) for n in range(sent_count)]
    await until(lambda: sum(consumer.done() for consumer in consumers) == sent_count)
    # The others wait on, each with one waiter.
    await until(lambda: len(waiters(bus)) == count - sent_count)
    served = [consumer.result() for consumer in consumers if consumer.done()]
    assert sorted(message.id for message in served if message is not None) == sorted(sent)

    waiting = [consumer for consumer in consumers if not consumer.done()]
    last = await bus.enqueue(QUEUE, {"n": sent_count})
    await until(lambda: sum(consumer.done() for consumer in waiting) == 1)
    (got_last,) = [consumer.result() for consumer in waiting if consumer.done()]
    assert got_last is not None
    assert got_last.id == last
    for consumer in waiting:
        consumer.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    assert waiters(bus) == []


# --- outlast_cancellation -------------------------------------------------------------------


async def test_outlast_cancellation_finishes_the_work_then_delivers_the_cancellation_once() -> None:
    release = asyncio.Event()
    finished: list[str] = []

    async def work() -> str:
        await release.wait()
        finished.append("done")
        return "result"

    results: list[str] = []

    async def caller() -> None:
        results.append(await outlast_cancellation(asyncio.ensure_future(work())))
        await asyncio.sleep(0)  # the next wait: the cancellation arrives here

    calling = asyncio.create_task(caller())
    await asyncio.sleep(0)
    calling.cancel()
    await asyncio.sleep(0)
    calling.cancel()
    await asyncio.sleep(0)
    assert not calling.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await calling
    assert finished == ["done"]
    assert results == ["result"]
    assert calling.cancelling() == 2  # the two requests, and no third of its own


async def test_outlast_cancellation_returns_or_raises_as_the_work_does() -> None:
    async def fails() -> None:
        raise ValueError("no")

    assert await outlast_cancellation(asyncio.ensure_future(asyncio.sleep(0, "fine"))) == "fine"
    with pytest.raises(ValueError, match="no"):
        await outlast_cancellation(asyncio.ensure_future(fails()))


async def test_a_timeout_around_outlast_cancellation_stays_a_timeout() -> None:
    work = asyncio.ensure_future(asyncio.sleep(0.05, "done"))

    async def within_a_timeout() -> None:
        async with asyncio.timeout(0.01):
            await outlast_cancellation(work)
            await asyncio.sleep(0)  # the caller's next wait, where the cancellation arrives

    with pytest.raises(TimeoutError):
        await within_a_timeout()
    assert work.result() == "done"
