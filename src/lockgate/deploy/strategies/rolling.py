"""Rolling update: replace instances a batch at a time, never below N - maxUnavailable ready
instances in rotation and never above N + maxSurge instances running."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..envfile import surge, unavailable

if TYPE_CHECKING:
    from ..controller import Controller

POOL = "stable"


def roll(ctl: Controller, deployment: int, digest: str) -> None:
    """Bring every slot to `digest`. Instances already on it (serving, or kept on standby and
    healthy) are reused; RolloutFailed leaves the failed batch's old instances serving."""
    strategy, replicas = ctl.spec.strategy, ctl.spec.target.replicas
    max_surge, max_unavailable = surge(strategy, replicas), unavailable(strategy, replicas)
    deadline = time.monotonic() + float(strategy.progress_deadline)
    reuse(ctl, digest)
    serving = {r["slot"]: r for r in ctl.rows() if r["state"] == "serving"}
    todo = [s for s in range(replicas) if serving.get(s, {}).get("digest") != digest]
    batch = max(1, max_surge + max_unavailable)
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        # With room to be unavailable, the old instances of the first slots go first.
        down_first = [serving[s] for s in chunk[:max_unavailable] if s in serving]
        ctl.retire(down_first)
        started = [ctl.launch(deployment, slot, digest, POOL) for slot in chunk]
        left = deadline - time.monotonic()
        if left <= 0:
            raise_deadline(ctl, chunk[0])
        ctl.await_ready(started, min(float(strategy.readiness_timeout), left))
        ctl.serve([r["id"] for r in started])
        ctl.retire([serving[s] for s in chunk[max_unavailable:] if s in serving])
        ctl.records.update(deployment, phase=f"{start + len(chunk)}/{len(todo)} instances updated")
        ctl.note(f"{start + len(chunk)}/{len(todo)} instances on {digest[:12]}")
    extra = [r for r in ctl.rows() if r["slot"] >= replicas]  # scaled down
    ctl.retire(extra)


def reuse(ctl: Controller, digest: str) -> None:
    """Standby instances already on `digest` and healthy go back into rotation (in one router
    change, taking their slots' other instances out)."""
    rows = ctl.rows()
    back: list[dict[str, Any]] = []
    for row in rows:
        if row["state"] == "standby" and row["digest"] == digest:
            _, app = ctl.app_for(digest)
            seen = ctl.target.observe(row["pid"], row["address"], app)
            if seen.alive and seen.ready and seen.digest == digest:
                back.append(row)
    if not back:
        return
    slots = {r["slot"] for r in back}
    displaced = [r for r in rows if r["slot"] in slots and r["state"] == "serving"]
    ctl.serve([r["id"] for r in back], standby=[r["id"] for r in displaced])
    ctl.retire(displaced)


def raise_deadline(ctl: Controller, slot: int) -> None:
    from ..controller import RolloutFailed

    deadline = ctl.spec.strategy.progress_deadline
    raise RolloutFailed(f"the progress deadline ({deadline}s) passed", slot)
