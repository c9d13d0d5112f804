"""Canary: a slice of real traffic to the new version, judged against a baseline, step by step.

Beside the stable set, `canary-replicas` instances of the new digest (pool `canary`) and as many
fresh instances of the stable digest (pool `baseline`) start, so both sides are equally young
and see the same traffic mix in the same window. A weight of w% sends w% to the canary, as
much (up to what is left) to the baseline, and the rest to stable. Analysis steps, and the
background analysis during pauses, compare canary with baseline; a failure aborts at once
(weight 0, canary and baseline removed, stable untouched). Missing data never advances a
step: it pauses for a human (`lockgate promote` / `abort`) or fails, as configured. After the
last step the stable set is rolled to the new digest under the convergence guarantee.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..analysis.judge import FAIL, INCONCLUSIVE, PASS
from ..analysis.measure import measure
from ..envfile import Step
from . import rolling

if TYPE_CHECKING:
    from ..controller import Controller

UNITS = 1000  # router weight units shared by all instances


def describe(step: Step) -> str:
    if step.set_weight is not None:
        return f"set weight {step.set_weight}%"
    if step.pause == "until-promoted":
        return "pause until promoted"
    if step.pause is not None:
        return f"pause {float(step.pause):g}s"
    return "analysis"


def run(ctl: Controller, deployment: int, digest: str, previous: str, first: int) -> int | None:
    """Run steps from index `first`; None when done (promoted), else the index to resume at
    after `lockgate promote`. Raises RolloutFailed to abort."""
    from ..controller import RolloutFailed

    steps = ctl.spec.strategy.canary_steps()
    if not steps:  # all at once: nothing to compare step by step
        rolling.roll(ctl, deployment, digest)
        return None
    if first == 0:
        start(ctl, deployment, digest, previous)
    since = time.time()
    for index in range(first, len(steps)):
        step = steps[index]
        label = f"step {index + 1}/{len(steps)} ({describe(step)})"
        ctl.records.update(deployment, phase=label)
        if step.set_weight is not None:
            set_weight(ctl, step.set_weight)
            since = time.time()
        elif step.pause == "until-promoted":
            ctl.note(f"{label}: waiting for `lockgate promote {ctl.name}`")
            return index + 1
        else:
            seconds = float(step.pause) if step.pause is not None else None
            verdict = watch(ctl, deployment, label, since, seconds)
            if verdict == FAIL:
                raise RolloutFailed(f"the canary failed analysis at {label}")
            if verdict == INCONCLUSIVE:
                if ctl.spec.strategy.analysis.on_inconclusive == "fail":
                    raise RolloutFailed(f"analysis at {label} was inconclusive")
                ctl.note(f"{label}: inconclusive, so paused; `lockgate promote {ctl.name}` goes on")
                return index + 1
    promote(ctl, deployment, digest)
    return None


def start(ctl: Controller, deployment: int, digest: str, previous: str) -> None:
    spec = ctl.spec.strategy
    replicas, count = ctl.spec.target.replicas, spec.canary_replicas
    canary = [ctl.launch(deployment, replicas + i, digest, "canary") for i in range(count)]
    baseline = [
        ctl.launch(deployment, replicas + count + i, previous, "baseline") for i in range(count)
    ]
    ctl.await_ready(canary + baseline, float(spec.readiness_timeout))
    ctl.weights = {"canary": 0, "baseline": 0}
    ctl.serve([r["id"] for r in canary + baseline])
    ctl.note(f"canary and baseline ready ({count} each), no traffic yet")


def set_weight(ctl: Controller, percent: int) -> None:
    """percent to the canary, as much to the baseline (up to what is left), the rest to stable."""
    rows = ctl.rows()
    count = {p: sum(1 for r in rows if r["state"] == "serving" and r["pool"] == p) for p in
             ("stable", "canary", "baseline")}  # fmt: skip
    shares = {"canary": percent, "baseline": min(percent, 100 - percent)}
    shares["stable"] = 100 - shares["canary"] - shares["baseline"]
    ctl.weights = {
        pool: round(UNITS * share / 100 / count[pool]) if count[pool] else 0
        for pool, share in shares.items()
    }
    ctl.sync_router()
    ctl.note(
        f"canary weight {percent}% (baseline {shares['baseline']}%, stable {shares['stable']}%)"
    )


def watch(ctl: Controller, deployment: int, label: str, since: float, seconds: float | None) -> str:
    """An analysis step (`seconds` None: `count` measurements) or a pause with the background
    analysis; the verdict that decides whether to go on. More failed measurements than the
    failure limit fail it; more inconclusive ones than the inconclusive limit end it."""
    spec = ctl.spec.strategy.analysis
    if seconds is not None and not spec.background:
        time.sleep(seconds)
        return PASS
    ends = time.monotonic() + (seconds if seconds is not None else spec.interval * spec.count)
    failed = unknown = number = 0
    while True:
        time.sleep(max(0.0, min(float(spec.interval), ends - time.monotonic())))
        still_ready(ctl)
        number += 1
        verdict = measure(ctl, deployment, spec, label, number, since).verdict
        failed += verdict == FAIL
        unknown += verdict == INCONCLUSIVE
        if failed > spec.failure_limit:
            return FAIL
        if spec.inconclusive_limit is not None and unknown > spec.inconclusive_limit:
            return INCONCLUSIVE
        if time.monotonic() >= ends - 0.01:
            return verdict


def still_ready(ctl: Controller) -> None:
    """A canary or baseline instance that died or stopped answering aborts the canary."""
    from ..controller import RolloutFailed

    for row in ctl.rows():
        if row["pool"] in ("canary", "baseline") and row["state"] == "serving":
            seen = ctl.target.observe(row["pid"], row["address"], ctl.app_for(row["digest"])[1])
            if not (seen.alive and seen.ready):
                raise RolloutFailed(f"{row['pool']} instance {row['id']} lost readiness")


def promote(ctl: Controller, deployment: int, digest: str) -> None:
    """Canary and baseline leave rotation; the stable set rolls to the new digest."""
    ctl.weights = {"canary": 0, "baseline": 0}
    ctl.sync_router()
    ctl.note("analysis passed: promoting the new digest to the stable set")
    rolling.roll(ctl, deployment, digest)  # retires canary and baseline at the end
    ctl.weights = {}


def drop(ctl: Controller) -> None:
    """Abort: no more canary traffic, canary and baseline removed, stable untouched."""
    ctl.weights = {"canary": 0, "baseline": 0}
    ctl.sync_router()
    ctl.retire([r for r in ctl.rows() if r["pool"] in ("canary", "baseline")])
    ctl.weights = {}
