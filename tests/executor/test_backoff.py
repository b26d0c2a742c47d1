"""Jittered exponential back-off: 0.5 s doubling to 30 s, never above the cap."""

from __future__ import annotations

import random

import pytest

from pilothouse.executor.backoff import Backoff


def test_without_jitter_delays_double_up_to_the_cap_and_stay_there() -> None:
    backoff = Backoff(0.5, 30.0, jitter=0.0)
    delays = [backoff.next_delay() for _ in range(10)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]


def test_jittered_delays_stay_between_half_and_all_of_each_step() -> None:
    for seed in range(50):
        backoff = Backoff(0.5, 30.0, rng=random.Random(seed))
        for base in (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0):
            assert base / 2 <= backoff.next_delay() <= base


def test_jitter_spreads_executors_that_failed_together() -> None:
    first_delays = {Backoff(rng=random.Random(seed)).next_delay() for seed in range(20)}
    assert len(first_delays) == 20


def test_reset_starts_again_from_the_initial_delay() -> None:
    backoff = Backoff(0.5, 30.0, jitter=0.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_many_failures_do_not_overflow() -> None:
    backoff = Backoff(0.5, 30.0, jitter=0.0)
    for _ in range(5000):
        delay = backoff.next_delay()
    assert delay == 30.0


@pytest.mark.parametrize(
    ("initial", "maximum", "jitter"), [(0.0, 1.0, 0.5), (2.0, 1.0, 0.5), (0.5, 1.0, 1.0), (0.5, 1.0, -0.1)]
)
def test_nonsensical_settings_are_refused(initial: float, maximum: float, jitter: float) -> None:
    with pytest.raises(ValueError, match="back-off needs"):
        Backoff(initial, maximum, jitter=jitter)
