"""A multi-region environment's releases are its deployments, as DORA counts them."""

from __future__ import annotations

from lockgate.insights.dora import dora
from lockgate.store.deployments import Rollout, RolloutStatus

DAY = 86400.0


def _release(id: int, status: RolloutStatus, at: float) -> Rollout:
    return Rollout(id, "shop", "shop", f"d{id}", None, "waves", "release", status, at, "ana",
                   finished_at=at + 600)  # fmt: skip


def test_releases_count_as_deployments_and_a_failed_one_as_a_failure() -> None:
    history = [
        _release(1, RolloutStatus.SUCCEEDED, 0),
        _release(2, RolloutStatus.FAILED, DAY),  # stopped in its canary wave
        _release(3, RolloutStatus.SUCCEEDED, 2 * DAY),
    ]
    metrics = {m.name: m for m in dora(history, [], {}, days=10)}
    assert metrics["deployment frequency"].value == 2 / 10
    assert metrics["change failure rate"].value == 1 / 3
