"""Wall-clock time for persisted timestamps: an injectable clock and a UTC column type.

Services take a :data:`Clock` instead of calling ``datetime.now`` so tests can move time
(session expiry, idleness) without sleeping. Waiting (long polls, command deadlines as the
waiter sees them) uses the event loop's monotonic clock and is not affected.

``UtcDateTime`` exists because SQLite stores timestamps without an offset and returns naive
datetimes even for ``DateTime(timezone=True)``; comparing those with aware values raises.
It stores every value converted to UTC and returns aware UTC values on both databases.
It belongs with the store (pilothouse.store) and should move there; audit is simply the
lowest of the Debug API packages, which all use it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; naive values are taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def isoformat(moment: datetime | None) -> str | None:
    """RFC 3339 UTC with a ``Z`` suffix and milliseconds, as the error bodies write it."""
    if moment is None:
        return None
    return as_utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class UtcDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = as_utc(value)
        # SQLite would store the wall time of an aware value and drop the offset; stored
        # values must compare as text in one zone, so hand it naive UTC.
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        stock = super().bind_processor(dialect)
        if dialect.name != "sqlite" or stock is None:
            return stock

        # What the stock chain (process_bind_param, then SQLite's DATETIME formatting its
        # storage format with the % operator) writes, in one C call: 4 µs a value was a tenth
        # of the command writer's time on the event loop.
        def process(value: Any) -> Any:
            if not isinstance(value, datetime):
                return stock(value)
            if value.tzinfo is UTC:
                # The common case: drop the "+00:00".
                return value.isoformat(" ", "microseconds")[:-6]
            if value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            return value.isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        return as_utc(value)
