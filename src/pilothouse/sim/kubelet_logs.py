"""Container logs: what each container instance printed, with lines generated lazily.

Periodic lines ("every 10 s: GET /health 200") are computed from their schedule when read, so
thousands of idle pods cost nothing until someone reads their logs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pilothouse.sim import status

LogKey = tuple[str, str, int]  # pod uid, container name, restart count of the instance


def timestamp_rfc3339_nano(epoch: float) -> str:
    whole = int(epoch)
    nanos = round((epoch - whole) * 1e9)
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


@dataclass
class _Periodic:
    start: float
    period: float
    lines: tuple[str, ...]
    until: float | None = None


@dataclass
class ContainerLog:
    """The log of one container instance (one run between restarts)."""

    fixed: list[tuple[float, str]] = field(default_factory=list)
    periodic: list[_Periodic] = field(default_factory=list)
    ended_at: float | None = None

    def lines(self, until: float) -> list[tuple[float, str]]:
        limit = until if self.ended_at is None else min(until, self.ended_at)
        result = [entry for entry in self.fixed if entry[0] <= limit]
        for schedule in self.periodic:
            end = limit if schedule.until is None else min(limit, schedule.until)
            tick = 1
            while schedule.start + tick * schedule.period <= end:
                when = schedule.start + tick * schedule.period
                result.extend((when, line) for line in schedule.lines)
                tick += 1
        result.sort(key=lambda entry: entry[0])
        return result


class LogBook:
    def __init__(self) -> None:
        self._logs: dict[LogKey, ContainerLog] = {}

    def instance(self, key: LogKey) -> ContainerLog:
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = ContainerLog()
        return log

    def find(self, key: LogKey) -> ContainerLog | None:
        return self._logs.get(key)

    def write(self, key: LogKey, when: float, *lines: str) -> None:
        log = self.instance(key)
        log.fixed.extend((when, line) for line in lines)

    def every(self, key: LogKey, start: float, period: float, lines: tuple[str, ...]) -> None:
        if period > 0 and lines:
            self.instance(key).periodic.append(_Periodic(start, period, lines))

    def end(self, key: LogKey, when: float) -> None:
        self.instance(key).ended_at = when

    def forget_pod(self, uid: str) -> None:
        for key in [k for k in self._logs if k[0] == uid]:
            del self._logs[key]


@dataclass
class LogRequest:
    """A resolved `pods/log` request: which instance, which lines, how to render them."""

    book: LogBook
    key: LogKey
    now: Callable[[], float]
    alive: Callable[[], bool]
    tail_lines: int | None = None
    since: float | None = None
    timestamps: bool = False
    limit_bytes: int | None = None

    def _render(self, entries: list[tuple[float, str]]) -> bytes:
        if self.since is not None:
            entries = [e for e in entries if e[0] >= self.since]
        if self.tail_lines is not None:
            entries = entries[-self.tail_lines :] if self.tail_lines > 0 else []
        if self.timestamps:
            text = "".join(f"{timestamp_rfc3339_nano(t)} {line}\n" for t, line in entries)
        else:
            text = "".join(f"{line}\n" for _, line in entries)
        data = text.encode()
        return data[: self.limit_bytes] if self.limit_bytes is not None else data

    def read(self) -> bytes:
        log = self.book.find(self.key)
        return self._render(log.lines(self.now())) if log else b""

    async def follow(self, poll_seconds: float = 0.2) -> AsyncIterator[bytes]:
        sent = 0
        written = 0
        first = True
        while True:
            log = self.book.find(self.key)
            entries = log.lines(self.now()) if log else []
            if first:
                chunk = self._render(entries)
                sent = len(entries)
                first = False
            else:
                new = entries[sent:]
                sent = len(entries)
                follow_request = LogRequest(
                    self.book, self.key, self.now, self.alive, None, None, self.timestamps
                )
                chunk = follow_request._render(new)
            if self.limit_bytes is not None:
                chunk = chunk[: max(0, self.limit_bytes - written)]
            if chunk:
                written += len(chunk)
                yield chunk
            finished = log is not None and log.ended_at is not None and log.ended_at <= self.now()
            if finished or not self.alive() or (self.limit_bytes is not None and written >= self.limit_bytes):
                return
            await asyncio.sleep(poll_seconds)


def container_not_found(container: str, pod: str) -> status.StatusError:
    return status.bad_request(f"container {container} is not valid for pod {pod}")
