"""Hand-written stand-ins for the executor's infrastructure, for tests of its logic."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from pilothouse.executor.discovery import DiscoveredResource
from pilothouse.executor.runner import CapturedOutput, ProcessOutcome
from pilothouse.policy import builtin_resources

# What discovery reports on a cluster without add-ons; verbs do not matter to the policy.
BUILTIN = tuple(DiscoveredResource(ref, ("get", "list")) for ref in builtin_resources())


def captured(data: bytes, total_bytes: int | None = None) -> CapturedOutput:
    return CapturedOutput(data, len(data) if total_bytes is None else total_bytes)


def outcome(
    stdout: bytes | CapturedOutput = b"",
    *,
    exit_code: int | None = 0,
    stderr: bytes | CapturedOutput = b"",
    timed_out: bool = False,
) -> ProcessOutcome:
    return ProcessOutcome(
        exit_code=exit_code,
        stdout=stdout if isinstance(stdout, CapturedOutput) else captured(stdout),
        stderr=stderr if isinstance(stderr, CapturedOutput) else captured(stderr),
        timed_out=timed_out,
        duration_seconds=0.1,
    )


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    time_limit: float
    max_output_bytes: int


class CannedKubectl:
    """Records each run and answers with the same outcome."""

    def __init__(self, result: ProcessOutcome | None = None) -> None:
        self.result = result or outcome(b"ok\n")
        self.runs: list[Run] = []

    @property
    def calls(self) -> list[tuple[str, ...]]:
        return [run.args for run in self.runs]

    async def run(self, args: Sequence[str], *, time_limit: float, max_output_bytes: int) -> ProcessOutcome:
        self.runs.append(Run(tuple(args), time_limit, max_output_bytes))
        return self.result


class ScriptedFetch:
    """A discovery fetch answering from a script (a resource tuple, or an exception to raise);
    the last answer repeats."""

    def __init__(self, *answers: tuple[DiscoveredResource, ...] | Exception, delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.delay = delay

    async def __call__(self) -> tuple[DiscoveredResource, ...]:
        self.calls += 1
        await asyncio.sleep(self.delay)
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer
