"""Sync windows: when automatic syncs wait. Pure, so the rules are tested on a fixed clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from ...common import cron
from .layout import SyncWindow


@dataclass(frozen=True)
class Closed:
    """A window that blocks automatic syncs now, and until when."""

    window: SyncWindow
    until: float

    def describe(self) -> str:
        until = dt.datetime.fromtimestamp(self.until, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"sync window `{self.window.schedule}` for {self.window.duration} (until {until})"


def closed_by(windows: Sequence[SyncWindow], environment: str, now: float) -> Closed | None:
    """The deny window in force for `environment` at `now` that stays closed longest."""
    found: Closed | None = None
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    for window in windows:
        if not window.applies_to(environment):
            continue
        span = dt.timedelta(seconds=window.seconds)
        # the first opening after (now - span) opened within the span when it is not later
        try:
            opened = cron.parse(window.schedule).next_after(moment - span)
        except cron.CronError:  # a date that never comes (30 February): never closed
            continue
        if opened <= moment:
            until = (opened + span).timestamp()
            if found is None or until > found.until:
                found = Closed(window, until)
    return found
