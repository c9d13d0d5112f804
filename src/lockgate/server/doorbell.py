"""How the HTTP side tells idle workers that a run was queued."""

from __future__ import annotations

import threading


class Doorbell:
    """Rung when a run is queued, so an idle worker takes it at once rather than at its next
    look (a ring no one waits for is lost; the next look finds the run anyway)."""

    def __init__(self) -> None:
        self.condition = threading.Condition()

    def ring(self) -> None:
        with self.condition:
            self.condition.notify_all()

    def wait(self, seconds: float) -> None:
        with self.condition:
            self.condition.wait(seconds)
