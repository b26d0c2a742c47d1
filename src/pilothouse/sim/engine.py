"""Virtual time and the controller engine.

Controllers are synchronous `reconcile(key)` functions over the in-memory store. The engine runs
them from one FIFO work queue and fires timers in order of their due time, pinning the clock to
each timer's due time while it runs. So a scenario with a given seed produces the same history
(the same events at the same offsets from the start) however busy the machine is; only writes
from API clients interleave at real times.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Reconciler = Callable[[str], None]


class SimClock:
    """Epoch seconds in simulated time: real time times `speed`, or only advanced by hand."""

    def __init__(self, *, speed: float = 1.0, start: float | None = None, manual: bool = False) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.manual = manual
        self._start = time.time() if start is None else start
        self._mono0 = time.monotonic()
        self._manual_now = self._start
        self._pinned: float | None = None

    @property
    def start(self) -> float:
        return self._start

    def now(self) -> float:
        if self._pinned is not None:
            return self._pinned
        if self.manual:
            return self._manual_now
        return self._start + (time.monotonic() - self._mono0) * self.speed

    def real_delay(self, sim_seconds: float) -> float:
        return max(0.0, sim_seconds / self.speed)

    def _pin(self, when: float | None) -> None:
        self._pinned = when

    def _set_manual(self, when: float) -> None:
        self._manual_now = max(self._manual_now, when)


@dataclass(order=True)
class _Timer:
    due: float
    seq: int
    controller: str = field(compare=False)
    key: str = field(compare=False)


class Engine:
    """Runs controllers' reconcilers from a deduplicating work queue and a timer heap."""

    def __init__(self, clock: SimClock, max_steps_per_drain: int = 200_000) -> None:
        self.clock = clock
        self._reconcilers: dict[str, Reconciler] = {}
        self._queue: dict[tuple[str, str], None] = {}  # insertion-ordered set
        self._timers: list[_Timer] = []
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self._max_steps = max_steps_per_drain
        self.errors = 0

    def register(self, controller: str, reconcile: Reconciler) -> None:
        self._reconcilers[controller] = reconcile

    def enqueue(self, controller: str, key: str) -> None:
        self._queue[(controller, key)] = None
        self._wakeup.set()

    def call_at(self, when: float, controller: str, key: str) -> None:
        heapq.heappush(self._timers, _Timer(when, next(self._seq), controller, key))
        self._wakeup.set()

    def call_later(self, delay: float, controller: str, key: str) -> None:
        self.call_at(self.clock.now() + delay, controller, key)

    @property
    def next_due(self) -> float | None:
        return self._timers[0].due if self._timers else None

    def drain(self) -> int:
        """Run queued reconciles until the queue is empty; returns how many ran."""
        steps = 0
        while self._queue and steps < self._max_steps:
            (controller, key) = next(iter(self._queue))
            del self._queue[(controller, key)]
            steps += 1
            try:
                self._reconcilers[controller](key)
            except Exception:
                # One broken object must not stop the cluster; a real controller logs and requeues.
                self.errors += 1
                log.exception("reconcile %s %s failed", controller, key)
        return steps

    def run_until(self, target: float) -> None:
        """Fire every timer due at or before `target`, in order, each at its own due time."""
        self.drain()
        while self._timers and self._timers[0].due <= target:
            timer = heapq.heappop(self._timers)
            self.clock._set_manual(timer.due)
            self.clock._pin(timer.due)
            try:
                self.enqueue(timer.controller, timer.key)
                self.drain()
            finally:
                self.clock._pin(None)
        if self.clock.manual:
            self.clock._set_manual(target)
        self.drain()

    def advance(self, seconds: float) -> None:
        """Manual clocks only: move time forward, running everything that falls due."""
        if not self.clock.manual:
            raise RuntimeError("advance() needs a manual clock")
        self.run_until(self.clock.now() + seconds)

    async def run(self) -> None:
        """The background loop: react to queued work at once, to timers when they fall due."""
        while True:
            self._wakeup.clear()
            self.run_until(self.clock.now())
            timeout: float | None = None
            if self._timers and not self.clock.manual:
                timeout = self.clock.real_delay(self._timers[0].due - self.clock.now())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            # Let API handlers run between bursts of controller work.
            await asyncio.sleep(0)
