"""Process-wide tuning shared by the long-running commands (`pilothouse serve`, `pilothouse sim`)."""

from __future__ import annotations

import gc


def settle_garbage_collector() -> None:
    """Move what is loaded so far out of the collector's sight, and collect less often.

    Both processes hold many long-lived objects (the simulated cluster's store; the server's
    informer caches); with the default thresholds every full collection walks all of them,
    which showed up as 300-700 ms pauses in large list requests (bench/sim.py p95) and as about
    a third of the time of parsing a 10,000-pod list (topology).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
