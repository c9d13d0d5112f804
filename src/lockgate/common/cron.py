"""POSIX cron expressions as GitHub reads `on: schedule` (five fields, UTC): minute, hour, day
of month, month, day of week; `*`, lists, ranges, steps, and JAN-DEC / SUN-SAT names. When both
day fields are restricted, a day matching either one fires (POSIX's rule)."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

MONTHS = {name.upper(): n for n, name in enumerate(calendar.month_abbr) if name}
DAYS = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (  # name, lowest, highest, names
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, DAYS),  # 7 is Sunday too
)
HORIZON_DAYS = 366 * 5  # a date like 30 February never comes: stop looking


class CronError(ValueError):
    """Not a cron expression GitHub would accept; says which field and why."""


@dataclass(frozen=True)
class Cron:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month is `*`
    any_weekday: bool  # day of week is `*`

    def day_matches(self, day: dt.date) -> bool:
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first time after `moment` (UTC, to the minute) when it fires."""
        start = moment.astimezone(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        day = start.date()
        for _ in range(HORIZON_DAYS):
            if day.month in self.months and self.day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        found = dt.datetime(
                            day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC
                        )
                        if found >= start:
                            return found
            day += dt.timedelta(days=1)
        raise CronError(f"{self.text!r} never fires")


def _value(text: str, names: dict[str, int], field: str) -> int:
    if text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise CronError(f"{field}: {text!r} is not a number" + (" or a name" if names else ""))
    return int(text)


def _field(text: str, field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    found: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field}: the step {step_text!r} must be a positive number")
            step = int(step_text)
        if span == "*":
            first, last = low, high
        elif "-" in span:
            left, _, right = span.partition("-")
            first, last = _value(left, names, field), _value(right, names, field)
        else:
            first = _value(span, names, field)
            last = high if step_text else first
        if not (low <= first <= high and low <= last <= high):
            raise CronError(f"{field}: {part!r} is outside {low}-{high}")
        if first > last:
            raise CronError(f"{field}: the range {span!r} runs backwards")
        found.update(range(first, last + 1, step))
    return found


def parse(text: str) -> Cron:
    parts = text.split()
    if len(parts) != 5:
        raise CronError(
            f"{text!r} has {len(parts)} fields; a schedule has five: minute hour "
            "day-of-month month day-of-week"
        )
    values = [
        _field(part, name, low, high, names)
        for part, (name, low, high, names) in zip(parts, FIELDS, strict=True)
    ]
    weekdays = frozenset(day % 7 for day in values[4])
    return Cron(
        text,
        frozenset(values[0]),
        frozenset(values[1]),
        frozenset(values[2]),
        frozenset(values[3]),
        weekdays,
        any_day=parts[2].startswith("*"),  # as cron does: `*/2` counts as unrestricted
        any_weekday=parts[4].startswith("*"),
    )
