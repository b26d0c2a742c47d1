"""Prometheus metrics with bounded label sets.

Each app owns a :class:`Metrics` (and so a registry): several apps in one process (tests,
the demo) must not collide on metric names in the global registry. Capabilities add their
own collectors to ``metrics.registry``.

Labels never carry raw paths, ids or user input: the route label is the route *template*
(``/debug/session/{session_id}``), methods outside the standard set collapse to ``OTHER``
and status codes to their class (``2xx``), so the number of series stays bounded.
"""

from __future__ import annotations

import functools
from typing import Generic, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

UNMATCHED_ROUTE = "<unmatched>"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Buckets from 5 ms (a cached read) to 60 s (a long poll or a slow command).
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


_Metric = TypeVar("_Metric", Counter, Gauge, Histogram)


class Children(Generic[_Metric]):
    """A labelled metric's children by label values. ``labels()`` takes a lock and builds its key
    on every call (~3 µs); the label sets here are bounded, and so is this map."""

    def __init__(self, metric: _Metric) -> None:
        self._metric: _Metric = metric
        self._children: dict[tuple[str, ...], _Metric] = {}

    def __call__(self, *values: str) -> _Metric:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


def method_label(method: str) -> str:
    upper = method.upper()
    return upper if upper in _KNOWN_METHODS else "OTHER"


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else "unknown"


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None, *, process_collectors: bool = True) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        if process_collectors:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self.http_requests = Counter(
            "pilothouse_http_requests_total",
            "HTTP requests handled, by route template, method and status class.",
            ("method", "route", "status_class"),
            registry=self.registry,
        )
        self.http_request_duration = Histogram(
            "pilothouse_http_request_duration_seconds",
            "Time from request start to the end of the response body.",
            ("method", "route"),
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.http_requests_in_progress = Gauge(
            "pilothouse_http_requests_in_progress",
            "HTTP requests currently being handled.",
            ("method",),
            registry=self.registry,
        )
        self.websocket_connections = Counter(
            "pilothouse_websocket_connections_total",
            "WebSocket connections opened, by route template.",
            ("route",),
            registry=self.registry,
        )
        self._requests = Children(self.http_requests)
        self._durations = Children(self.http_request_duration)
        # Requests in progress by method label, read by the gauge when scraped: counted on the
        # event loop's thread only, so without the lock a gauge's inc() and dec() take.
        self._in_progress: dict[str, int] = {}

    def request_started(self, method: str) -> None:
        """``method``: already a method label."""
        count = self._in_progress.get(method)
        if count is None:
            self._in_progress[method] = count = 0
            self.http_requests_in_progress.labels(method).set_function(
                functools.partial(self._in_progress.__getitem__, method)
            )
        self._in_progress[method] = count + 1

    def request_finished(self, method: str, route: str, status: int, duration_seconds: float) -> None:
        """``method``: the method label ``request_started`` was given."""
        self._in_progress[method] -= 1
        self._requests(method, route, status_class(status)).inc()
        self._durations(method, route).observe(duration_seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class CommandMetrics:
    """Commands sent to clusters. Labels are the command kind (``kubectl``, ``ping``) and final
    status (``success``, ``failure``, ``timeout``): never a cluster id or an argument."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.submitted = Counter(
            "pilothouse_commands_submitted_total",
            "Commands accepted for execution, by kind.",
            ("kind",),
            registry=registry,
        )
        self.finished = Counter(
            "pilothouse_commands_finished_total",
            "Commands that reached a final status, by kind and status.",
            ("kind", "status"),
            registry=registry,
        )
        self.denied = Counter(
            "pilothouse_commands_denied_total",
            "Commands refused by the server's policy.",
            registry=registry,
        )
        self.duration = Histogram(
            "pilothouse_command_duration_seconds",
            "Time from a command's submission to its final status.",
            ("kind",),
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self._submitted = Children(self.submitted)
        self._finished = Children(self.finished)
        self._durations = Children(self.duration)

    def count_submitted(self, kind: str) -> None:
        self._submitted(kind).inc()

    def count_finished(self, kind: str, status: str, seconds: float) -> None:
        self._finished(kind, status).inc()
        self._durations(kind).observe(seconds)
