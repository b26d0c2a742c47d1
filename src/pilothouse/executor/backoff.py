"""Jittered exponential back-off for reconnecting and for retrying result posts."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double from ``initial`` up to ``maximum``, each shortened by a random share.

    The jitter spreads out executors that lost the server at the same moment (a server restart)
    so they do not all come back in the same instant. A delay lies in
    ``[base * (1 - jitter), base]``, so ``maximum`` is never exceeded.
    """

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 30.0,
        *,
        factor: float = 2.0,
        jitter: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < initial <= maximum or factor < 1 or not 0 <= jitter < 1:
            raise ValueError("back-off needs 0 < initial <= maximum, factor >= 1 and 0 <= jitter < 1")
        self.initial = initial
        self.maximum = maximum
        self._factor = factor
        self._jitter = jitter
        self._rng = rng or random.Random()  # noqa: S311 - spreading retries, not secrets
        self._exponent = 0

    def next_delay(self) -> float:
        base = min(self.maximum, self.initial * self._factor**self._exponent)
        # Stop growing once the cap is reached: the power would overflow after ~1000 failures.
        if base < self.maximum:
            self._exponent += 1
        return base * (1 - self._jitter * self._rng.random())

    def reset(self) -> None:
        self._exponent = 0
