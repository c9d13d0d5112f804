"""DORA's delivery metrics from lockgate's own deployment records, with their performance
bands. The definitions and thresholds are written out in docs/insights.md; in short:

- only deployments that reached an end count (succeeded, failed, rolled back); aborted and
  stopped ones never went live;
- a deployment failed when it failed or rolled back, when an incident opened while it was the
  live one, or when a fix followed it within the fix window (a rollback, or a deployment of a
  revert): counted once per deployment, however many incidents or fixes;
- recovery runs from the failure (the deployment's start when it rolled back, the incident's
  opening, the failed deployment's end) to the service being good again (the rollback done,
  the incident resolved, the fix deployed).
"""

from __future__ import annotations

import enum
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..store.deployments import Incident, Rollout, RolloutStatus

DAY = 86400.0
FIX_WINDOW = DAY
ENDED = (RolloutStatus.SUCCEEDED, RolloutStatus.FAILED, RolloutStatus.ROLLED_BACK)
# What counts as a deployment: a fleet's deploy, and a multi-region environment's release
DEPLOYS = ("deploy", "release")


class Band(enum.StrEnum):
    ELITE = "elite"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class Change:
    """What a deployment shipped: when each of its new commits was made, and whether its
    commit reverts an earlier one (a fix)."""

    commit_times: tuple[float, ...]
    revert: bool = False


@dataclass(frozen=True)
class Metric:
    name: str
    value: float | None  # None: nothing to compute it from
    unit: str
    band: Band | None  # None: no data, or no published band (rework rate)
    count: int  # deployments (or changes) it was computed from


@dataclass(frozen=True)
class Failure:
    deployment: Rollout
    why: str
    recovered_after: float | None  # seconds; None while not recovered


def _band(
    value: float | None, limits: tuple[float, float, float], higher_is_better: bool
) -> Band | None:
    if value is None:
        return None
    elite, high, medium = limits
    if higher_is_better:
        value, elite, high, medium = -value, -elite, -high, -medium
    if value <= elite:
        return Band.ELITE
    if value <= high:
        return Band.HIGH
    if value <= medium:
        return Band.MEDIUM
    return Band.LOW


def failures(
    deployments: Sequence[Rollout],
    incidents: Sequence[Incident],
    changes: Mapping[int, Change],
    fix_window: float = FIX_WINDOW,
) -> tuple[list[Failure], set[int]]:
    """Failed deployments (once each, with their recovery time) and the ids of the unplanned
    deployments that fixed them (rollbacks, reverts, fixes within the window)."""
    by_env: dict[str, list[Rollout]] = defaultdict(list)
    for deployment in deployments:
        if deployment.status in ENDED:
            by_env[deployment.environment].append(deployment)
    opened: dict[int, list[Incident]] = defaultdict(list)
    for incident in incidents:
        if incident.deployment_id is not None:
            opened[incident.deployment_id].append(incident)
    found: list[Failure] = []
    fixes: set[int] = set()
    for history in by_env.values():
        history.sort(key=lambda d: d.started_at)
        for index, deployment in enumerate(history):
            fixes |= {deployment.id} if deployment.kind == "rollback" else set()
            if deployment.kind not in DEPLOYS:
                continue
            later = history[index + 1 :]
            failure = _failure(
                deployment, later, opened.get(deployment.id, []), changes, fix_window
            )
            if failure is not None:
                found.append(failure)
                fix = _fix(deployment, later, changes, fix_window)
                if fix is not None:
                    fixes.add(fix.id)
    return found, fixes


def _fix(
    deployment: Rollout, later: Sequence[Rollout], changes: Mapping[int, Change], window: float
) -> Rollout | None:
    """The next deployment within the window when it is a rollback or a revert."""
    end = deployment.finished_at or deployment.started_at
    for after in later:
        if after.started_at - end > window:
            return None
        if after.status != RolloutStatus.SUCCEEDED:
            continue
        if after.kind == "rollback" or changes.get(after.id, Change(())).revert:
            return after
        return None
    return None


def _failure(
    deployment: Rollout,
    later: Sequence[Rollout],
    incidents: Sequence[Incident],
    changes: Mapping[int, Change],
    window: float,
) -> Failure | None:
    end = deployment.finished_at or deployment.started_at
    if deployment.status in (RolloutStatus.FAILED, RolloutStatus.ROLLED_BACK):
        return Failure(deployment, deployment.status.value, end - deployment.started_at)
    if incidents:
        first = min(incidents, key=lambda i: i.opened_at)
        resolved = first.resolved_at - first.opened_at if first.resolved_at else None
        return Failure(deployment, f"incident: {first.title}", resolved)
    fix = _fix(deployment, later, changes, window)
    if fix is not None:
        return Failure(deployment, f"fixed by deployment {fix.id}", (fix.finished_at or end) - end)
    return None


def dora(
    deployments: Sequence[Rollout],
    incidents: Sequence[Incident],
    changes: Mapping[int, Change],
    days: float,
    fix_window: float = FIX_WINDOW,
) -> list[Metric]:
    """The five metrics over `deployments` (already chosen: one environment, one app, one
    window of `days`)."""
    ended = [d for d in deployments if d.status in ENDED]
    deploys = [d for d in ended if d.kind in DEPLOYS]
    succeeded = [d for d in deploys if d.status == RolloutStatus.SUCCEEDED]
    per_day = len(succeeded) / days if days > 0 else 0.0
    leads = [
        (d.finished_at or d.started_at) - made
        for d in succeeded
        for made in changes.get(d.id, Change(())).commit_times
    ]
    lead = statistics.median(leads) if leads else None
    failed, fixes = failures(ended, incidents, changes, fix_window)
    rate = len(failed) / len(deploys) if deploys else None
    recoveries = [f.recovered_after for f in failed if f.recovered_after is not None]
    recovery = statistics.median(recoveries) if recoveries else None
    rework = len(fixes) / len(ended) if ended else None
    return [
        Metric("deployment frequency", per_day, "per day",
               _band(per_day, (1.0, 1 / 7, 1 / 30), True) if succeeded else None, len(succeeded)),
        Metric("lead time for changes", lead, "seconds",
               _band(lead, (DAY, 7 * DAY, 30 * DAY), False), len(leads)),
        Metric("change failure rate", rate, "share of deployments",
               _band(rate, (0.05, 0.10, 0.15), False), len(deploys)),
        Metric("failed deployment recovery time", recovery, "seconds",
               _band(recovery, (3600.0, DAY, 7 * DAY), False), len(recoveries)),
        Metric("deployment rework rate", rework, "share of deployments", None, len(ended)),
    ]  # fmt: skip
