"""Waiting: on a future with a deadline, for the paths every command takes; and for work that
must not be left half done when the waiter is cancelled.

``asyncio.wait_for`` and ``asyncio.wait`` wrap what they wait on in a task or in a future of their
own, with callbacks to undo afterwards. A long poll and a sync command each wait once per request,
so that cost was paid several times per command. Here the waiter is a plain future, and the timer
resolves it.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

_T = TypeVar("_T")


def resolve(waiter: asyncio.Future[None]) -> bool:
    """Wake whoever waits on ``waiter``; False (and nothing happens) if it is already done."""
    if waiter.done():
        return False
    waiter.set_result(None)
    return True


async def wait_on(waiter: asyncio.Future[None], seconds: float) -> None:
    """Return once ``waiter`` is resolved, or after ``seconds`` (it is then resolved)."""
    timer = asyncio.get_running_loop().call_later(max(0.0, seconds), resolve, waiter)
    try:
        await waiter
    finally:
        timer.cancel()


async def outlast_cancellation(work: asyncio.Future[_T]) -> _T:
    """``work``'s result (or error), once it is done, however often the caller is cancelled
    meanwhile; ``work`` itself is never cancelled from here. A cancellation that came meanwhile is
    then delivered again, once, at the caller's next wait."""
    cancelled = False
    while not work.done():
        try:
            # Unlike awaiting the future, this neither cancels it nor raises its error.
            await asyncio.wait((work,))
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        task = asyncio.current_task()
        assert task is not None
        # Without counting as a new request: asyncio.timeout relies on the count to tell its own
        # cancellation from someone else's.
        task.uncancel()
        task.cancel()
    return work.result()
