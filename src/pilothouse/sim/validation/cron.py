"""CronJob schedules, parsed and stepped like github.com/robfig/cron/v3's ParseStandard."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import go_quote


class CronParseError(ValueError):
    """The schedule does not parse; the message is robfig/cron's, as the API server reports it."""


@dataclass(frozen=True)
class _CronBounds:
    low: int
    high: int
    names: Mapping[str, int]


_MONTH_NAMES: Final = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}
_DAY_NAMES: Final = {
    name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}
_CRON_FIELDS: Final = (
    _CronBounds(0, 59, {}),  # minute
    _CronBounds(0, 23, {}),  # hour
    _CronBounds(1, 31, {}),  # day of month
    _CronBounds(1, 12, _MONTH_NAMES),  # month
    _CronBounds(0, 6, _DAY_NAMES),  # day of week
)
_CRON_DESCRIPTORS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_GO_DURATION_UNITS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_INT64_MAX: Final = 2**63 - 1


@dataclass(frozen=True)
class CronSchedule:
    """A parsed schedule; ``next_after`` gives the next activation like robfig's Schedule.Next."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    # A '*' (or '?') in a day field makes the two day fields combine with AND instead of OR.
    day_of_month_star: bool
    day_of_week_star: bool
    timezone: str = "UTC"
    every_seconds: int | None = None  # "@every <duration>"

    def next_after(self, epoch_seconds: float) -> float:
        """The first activation after ``epoch_seconds`` (to the second), or inf if none within 5 years."""
        if self.every_seconds is not None:
            return float(math.floor(epoch_seconds) + self.every_seconds)
        zone = ZoneInfo(self.timezone)
        moment = datetime.fromtimestamp(math.floor(epoch_seconds) + 1, zone)
        found = self._search(moment, zone)
        return math.inf if found is None else found.timestamp()

    def _day_matches(self, moment: datetime) -> bool:
        in_month = moment.day in self.days_of_month
        in_week = (moment.isoweekday() % 7) in self.days_of_week
        if self.day_of_month_star or self.day_of_week_star:
            return in_month and in_week
        return in_month or in_week

    def _search(self, start: datetime, zone: ZoneInfo) -> datetime | None:
        # A port of SpecSchedule.Next: find the first matching month, then day, hour, minute and
        # second; the first time a field moves, the finer ones reset to their minimum, and a field
        # that wraps around restarts the search from the month. Wall-clock moves normalise through
        # UTC so that daylight-saving gaps resolve to a real instant.
        def wall(year: int, month: int, day: int, hour: int = 0) -> datetime:
            return _normalised(datetime(year, month, day, hour, tzinfo=zone), zone)

        def later(value: datetime, step: timedelta) -> datetime:
            return (value.astimezone(UTC) + step).astimezone(zone)

        def next_month(value: datetime) -> datetime:
            year, month = divmod(value.year * 12 + value.month, 12)
            return wall(year, month + 1, 1)

        def next_day(value: datetime) -> datetime:
            value = _normalised(value + timedelta(days=1), zone)
            if value.hour:  # daylight saving moved midnight: go back to it
                value = later(value, timedelta(hours=24 - value.hour if value.hour > 12 else -value.hour))
            return value

        stages: tuple[_CronStage, ...] = (
            (
                lambda m: m.month in self.months,
                lambda m: wall(m.year, m.month, 1),
                next_month,
                lambda m: m.month == 1,
            ),
            (self._day_matches, lambda m: wall(m.year, m.month, m.day), next_day, lambda m: m.day == 1),
            (
                lambda m: m.hour in self.hours,
                lambda m: wall(m.year, m.month, m.day, m.hour),
                lambda m: later(m, timedelta(hours=1)),
                lambda m: m.hour == 0,
            ),
            (
                lambda m: m.minute in self.minutes,
                lambda m: m.replace(second=0, microsecond=0),
                lambda m: later(m, timedelta(minutes=1)),
                lambda m: m.minute == 0,
            ),
            # The standard (five-field) parser fixes the seconds field to 0.
            (
                lambda m: m.second == 0,
                lambda m: m.replace(microsecond=0),
                lambda m: later(m, timedelta(seconds=1)),
                lambda m: m.second == 0,
            ),
        )
        moment, added = start, False
        while moment.year <= start.year + 5:
            for matches, reset, step, wrapped in stages:
                while not matches(moment):
                    if not added:
                        added, moment = True, reset(moment)
                    moment = step(moment)
                    if wrapped(moment):
                        break
                else:
                    continue
                break  # a field wrapped around: start again from the month
            else:
                return moment
        return None


_CronStage = tuple[
    Callable[[datetime], bool],
    Callable[[datetime], datetime],
    Callable[[datetime], datetime],
    Callable[[datetime], bool],
]


def _normalised(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(UTC).astimezone(zone)


def _go_atoi(text: str) -> int:
    if re.fullmatch(r"[+-]?[0-9]+", text) is None:
        raise CronParseError(f"strconv.Atoi: parsing {go_quote(text)}: invalid syntax")
    number = int(text)
    if not -_INT64_MAX - 1 <= number <= _INT64_MAX:
        raise CronParseError(f"strconv.Atoi: parsing {go_quote(text)}: value out of range")
    return number


def _cron_int(text: str) -> int:
    try:
        number = _go_atoi(text)
    except CronParseError as err:
        raise CronParseError(f"failed to parse int from {text}: {err}") from None
    if number < 0:
        raise CronParseError(f"negative number ({number}) not allowed: {text}")
    return number


def _cron_int_or_name(text: str, bounds: _CronBounds) -> int:
    named = bounds.names.get(text.lower())
    return named if named is not None else _cron_int(text)


def _cron_range(expr: str, bounds: _CronBounds) -> tuple[set[int], bool]:
    """getRange: the values one comma-separated item selects, and whether it is a plain '*'."""
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    star = low_and_high[0] in ("*", "?")
    if star:
        start, end = bounds.low, bounds.high
    else:
        start = _cron_int_or_name(low_and_high[0], bounds)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _cron_int_or_name(low_and_high[1], bounds)
        else:
            raise CronParseError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _cron_int(range_and_step[1])
        if len(low_and_high) == 1:  # "N/step" means "N-max/step"
            end = bounds.high
        star = star and step <= 1
    else:
        raise CronParseError(f"too many slashes: {expr}")
    if start < bounds.low:
        raise CronParseError(f"beginning of range ({start}) below minimum ({bounds.low}): {expr}")
    if end > bounds.high:
        raise CronParseError(f"end of range ({end}) above maximum ({bounds.high}): {expr}")
    if start > end:
        raise CronParseError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronParseError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def _cron_field(text: str, bounds: _CronBounds) -> tuple[frozenset[int], bool]:
    values: set[int] = set()
    star = False
    for item in (part for part in text.split(",") if part):
        selected, item_star = _cron_range(item, bounds)
        values |= selected
        star = star or item_star
    return frozenset(values), star


def _go_duration_seconds(text: str) -> float:
    """time.ParseDuration, to the precision @every needs."""
    quoted = go_quote(text)
    body = text.lstrip("+-")
    negative = text.startswith("-")
    if body == "0":
        return 0.0
    if not body:
        raise CronParseError(f"time: invalid duration {quoted}")
    total = 0.0
    for match in re.finditer(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)", body):
        number, unit = match.groups()
        if not number and not unit:
            continue
        if not number or number == ".":
            raise CronParseError(f"time: invalid duration {quoted}")
        if not unit:
            raise CronParseError(f"time: missing unit in duration {quoted}")
        if unit not in _GO_DURATION_UNITS:
            raise CronParseError(f"time: unknown unit {go_quote(unit)} in duration {quoted}")
        total += float(number) * _GO_DURATION_UNITS[unit]
    return -total if negative else total


def load_zone(name: str) -> str:
    """time.LoadLocation: the canonical zone name, or Go's error text."""
    if name in ("", "UTC"):
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronParseError(f"unknown time zone {name}") from None
    return name


def parse_cron(schedule: str, timezone: str | None = None) -> CronSchedule:
    """Parse a CronJob schedule: five fields (names like MON/JAN, ranges, steps, lists) or a
    descriptor (@hourly, @daily, @every 5m, ...), optionally prefixed with TZ=/CRON_TZ=.

    ``timezone`` (an IANA name, default UTC) applies unless the schedule names its own.
    Raises CronParseError with the message the API server shows.
    """
    if not schedule:
        raise CronParseError("empty spec string")
    zone = load_zone(timezone or "")
    spec = schedule
    if spec.startswith(("TZ=", "CRON_TZ=")):
        location, _, spec = spec.partition(" ")
        location = location.split("=", 1)[1]
        try:
            zone = load_zone(location)
        except CronParseError as err:
            raise CronParseError(f"provided bad location {location}: {err}") from None
        spec = spec.strip()
    if spec.startswith("@"):
        if spec.startswith("@every "):
            seconds = _go_duration_seconds(spec[len("@every ") :])
            # ConstantDelaySchedule rounds down to whole seconds, with one second at least.
            return CronSchedule(
                frozenset(),
                frozenset(),
                frozenset(),
                frozenset(),
                frozenset(),
                True,
                True,
                zone,
                every_seconds=max(1, int(seconds)),
            )
        if spec not in _CRON_DESCRIPTORS:
            raise CronParseError(f"unrecognized descriptor: {spec}")
        spec = _CRON_DESCRIPTORS[spec]
    fields = spec.split()
    if len(fields) != len(_CRON_FIELDS):
        raise CronParseError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    (minutes, _), (hours, _), (days, dom_star), (months, _), (weekdays, dow_star) = (
        _cron_field(text, bounds) for text, bounds in zip(fields, _CRON_FIELDS, strict=True)
    )
    return CronSchedule(minutes, hours, days, months, weekdays, dom_star, dow_star, zone)
