"""Cron expressions as GitHub evaluates `on: schedule`: five fields, UTC, POSIX's day rule."""

from __future__ import annotations

import datetime as dt

import pytest

from lockgate.common import cron
from lockgate.server.scheduler import next_time


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/15 * * * *", "2026-11-28 10:07", "2026-11-28 10:15"),
        ("*/15 * * * *", "2026-11-28 10:15", "2026-11-28 10:30"),  # strictly after
        ("0 0 * * *", "2026-12-31 23:59", "2027-01-01 00:00"),
        ("30 5 * * 1,3", "2026-11-28 00:00", "2026-11-30 05:30"),  # Saturday -> Monday
        ("0 12 * * MON-FRI", "2026-11-28 13:00", "2026-11-30 12:00"),
        ("0 0 1 JAN *", "2026-11-28 00:00", "2027-01-01 00:00"),
        ("0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00"),  # the next leap day
        ("0 0 * * 7", "2026-11-28 00:00", "2026-11-29 00:00"),  # 7 is Sunday too
        ("5 4 13 * 5", "2026-11-28 00:00", "2026-12-04 04:05"),  # Friday OR the 13th
        ("0 9 1-7 * *", "2026-11-28 00:00", "2026-12-01 09:00"),
        ("0 */6 * * *", "2026-11-28 19:00", "2026-11-29 00:00"),
        ("10-20/5 8 * * *", "2026-11-28 08:11", "2026-11-28 08:15"),
    ],
)
def test_next_firing(expression: str, after: str, expected: str) -> None:
    assert cron.parse(expression).next_after(at(after)) == at(expected)


def test_next_time_is_in_utc_whatever_the_local_zone() -> None:
    moment = at("2026-11-28 10:07").timestamp()
    assert next_time("0 11 * * *", moment) == at("2026-11-28 11:00").timestamp()


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("* * * *", "has 4 fields"),
        ("60 * * * *", "minute: '60' is outside 0-59"),
        ("* 24 * * *", "hour"),
        ("* * 0 * *", "day of month"),
        ("* * * 13 *", "month"),
        ("* * * * 8", "day of week"),
        ("*/0 * * * *", "step '0'"),
        ("5-1 * * * *", "runs backwards"),
        ("@daily", "has 1 fields"),
        ("* * * FOO *", "not a number or a name"),
    ],
)
def test_bad_expressions_say_which_field(expression: str, says: str) -> None:
    with pytest.raises(cron.CronError, match=says.replace("(", r"\(")):
        cron.parse(expression)


def test_a_date_that_never_comes_is_an_error_not_a_hang() -> None:
    with pytest.raises(cron.CronError, match="never fires"):
        cron.parse("0 0 30 2 *").next_after(at("2026-01-01 00:00"))
