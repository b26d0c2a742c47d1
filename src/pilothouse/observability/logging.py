"""Structured logging: structlog JSON lines carrying the current request's identifiers.

Standard-library loggers (uvicorn, sqlalchemy, alembic) are routed through the same
formatter, so every line a process writes has one shape.

The request context is a mutable object held in a ContextVar rather than one ContextVar
per field: code deep in a request (authentication, a cluster lookup) may run in a copied
context (a task group, a thread), where setting a ContextVar would not be seen by the
middleware that writes the access log; mutating the shared object is.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger


@dataclass(slots=True)
class RequestContext:
    request_id: str
    correlation_id: str
    cluster_id: str | None = None
    # Who is acting: an API key id, a user name, a service identity or an executor.
    principal: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("pilothouse_request_context", default=None)


def current_context() -> RequestContext | None:
    return _current.get()


def current_request_id() -> str | None:
    context = _current.get()
    return context.request_id if context else None


def current_correlation_id() -> str | None:
    context = _current.get()
    return context.correlation_id if context else None


class request_context:  # used like a function: ``with request_context(...)``
    """Make a fresh context current for the duration of the block (a request, a job).

    A class rather than a generator-based context manager: it is entered on every request.
    """

    __slots__ = ("_context", "_token")

    def __init__(self, request_id: str, correlation_id: str | None = None) -> None:
        self._context = RequestContext(request_id=request_id, correlation_id=correlation_id or request_id)
        self._token: Token[RequestContext | None] | None = None

    def __enter__(self) -> RequestContext:
        self._token = _current.set(self._context)
        return self._context

    def __exit__(self, *_exc: object) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None


def bind_cluster(cluster_id: str | None) -> None:
    """Record the cluster the current request acts on; no-op outside a request context."""
    context = _current.get()
    if context is not None:
        context.cluster_id = cluster_id


def bind_principal(principal: str | None) -> None:
    """Record who the current request acts for; no-op outside a request context."""
    context = _current.get()
    if context is not None:
        context.principal = principal


def _add_request_context(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    context = _current.get()
    if context is not None:
        event_dict.setdefault("request_id", context.request_id)
        event_dict.setdefault("correlation_id", context.correlation_id)
        if context.cluster_id is not None:
            event_dict.setdefault("cluster_id", context.cluster_id)
        if context.principal is not None:
            event_dict.setdefault("principal", context.principal)
    return event_dict


def _drop_color_message(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # uvicorn attaches an ANSI-coloured copy of its message for terminals; noise in JSON.
    event_dict.pop("color_message", None)
    return event_dict


def _orjson_dumps(value: MutableMapping[str, Any], **_kw: Any) -> str:
    # default=str: a stray non-JSON value must never make a log call raise.
    return orjson.dumps(value, default=str).decode()


def configure_logging(level: str = "INFO", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Configure structlog and the stdlib root logger. Calling again replaces the setup."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_request_context,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
    ]
    # Tracebacks without local variables: locals can hold tokens and passwords.
    final: list[Processor]
    if fmt == "console":
        plain = structlog.dev.plain_traceback
        final = [structlog.dev.ConsoleRenderer(colors=False, exception_formatter=plain)]
    else:
        final = [
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            structlog.processors.JSONRenderer(serializer=_orjson_dumps),
        ]

    structlog.configure(
        processors=[
            # First: a line below the level (the access log of every request at WARNING) costs
            # a level check, not a timestamp and the rest of the chain.
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a logger first used before configure_logging() must pick up the new setup.
        cache_logger_on_first_use=False,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    handler.set_name("pilothouse")

    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "pilothouse":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn installs its own handlers unless told otherwise; make its loggers propagate
    # to ours so they are formatted the same way.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
