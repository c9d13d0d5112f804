"""Deny windows on a fixed clock: no syncs from Friday 16:00 to Monday 08:00 (UTC)."""

from __future__ import annotations

import datetime as dt

from lockgate.deploy.gitops.layout import SyncWindow
from lockgate.deploy.gitops.windows import closed_by

WEEKEND = SyncWindow(schedule="0 16 * * FRI", duration="64h")
PROD_NIGHTS = SyncWindow(schedule="0 22 * * *", duration="10h", environments=["prod"])


def at(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def test_the_weekend_window_is_closed_from_friday_afternoon_to_monday_morning() -> None:
    assert closed_by([WEEKEND], "prod", at("2026-12-04 15:59")) is None  # a Friday
    friday = closed_by([WEEKEND], "prod", at("2026-12-04 16:00"))
    assert friday is not None and friday.until == at("2026-12-07 08:00")
    assert closed_by([WEEKEND], "dev", at("2026-12-06 12:00")) is not None  # Sunday
    assert closed_by([WEEKEND], "prod", at("2026-12-07 07:59")) is not None
    assert closed_by([WEEKEND], "prod", at("2026-12-07 08:00")) is None  # Monday 08:00
    assert "until 2026-12-07 08:00 UTC" in friday.describe()


def test_a_window_names_its_environments_and_the_longest_closure_wins() -> None:
    night = at("2026-12-04 23:00")  # Friday night: both windows closed for prod
    assert closed_by([PROD_NIGHTS], "dev", night) is None
    found = closed_by([PROD_NIGHTS, WEEKEND], "prod", night)
    assert found is not None and found.window == WEEKEND
    assert closed_by([PROD_NIGHTS], "prod", at("2026-12-02 07:30")) is not None  # Wed morning
    assert closed_by([PROD_NIGHTS], "prod", at("2026-12-02 08:00")) is None


def test_a_date_that_never_comes_never_closes() -> None:
    never = SyncWindow(schedule="0 0 30 2 *", duration="1h")
    assert closed_by([never], "prod", at("2027-03-01 00:30")) is None
