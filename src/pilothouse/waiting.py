"""Waiting on a future with a deadline, for the paths every command takes.

``asyncio.wait_for`` and ``asyncio.wait`` wrap what they wait on in a task or in a future of their
own, with callbacks to undo afterwards. A long poll and a sync command each wait once per request,
so that cost was paid several times per command. Here the waiter is a plain future, and the timer
resolves it.
"""

from __future__ import annotations

import asyncio


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
