"""The gate ledger: every job is a gate with a cost and a value over a window.

Cost: minutes spent per week. Value: failures that were real catches. A failed run of a job
is, by evidence:
- infrastructure, when most of its tests failed (insights.flaky's rule);
- flaky, when the same tree (its input digest) passed in another run;
- real, when that tree never passed and a later run on another tree did (a commit fixed it);
- open, when nothing has passed since.
Gates rank by catches per hour of machine time, so a gate that costs an hour a week and never
caught anything is plain to see.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..store.testresults import JobTiming, RunTiming


@dataclass(frozen=True)
class Gate:
    job_id: str
    owner: str | None
    runs: int
    minutes_per_week: float
    failures: int
    real: int
    flaky: int
    infrastructure: int
    open: int
    catches_per_hour: float


def ledger(
    runs: Sequence[RunTiming],
    infrastructure: set[int],
    owners: Mapping[str, str | None],
    days: float,
) -> list[Gate]:
    """Each job's gate over `runs` (oldest first); `infrastructure` holds the job rows where
    most tests failed; `owners` maps job ids to their owner."""
    history: dict[str, list[JobTiming]] = defaultdict(list)
    for run in runs:
        for job in run.jobs:
            if job.conclusion in ("success", "failure"):
                history[job.job_id].append(job)
    gates = []
    for job_id, jobs in history.items():
        passed_trees = {j.tree for j in jobs if j.conclusion == "success" and j.tree}
        counts = {"real": 0, "flaky": 0, "infrastructure": 0, "open": 0}
        for index, job in enumerate(jobs):
            if job.conclusion != "failure":
                continue
            if job.job_row in infrastructure:
                counts["infrastructure"] += 1
            elif job.tree is not None and job.tree in passed_trees:
                counts["flaky"] += 1
            elif any(j.conclusion == "success" for j in jobs[index + 1 :]):
                counts["real"] += 1
            else:
                counts["open"] += 1
        minutes = sum(j.finished - j.started for j in jobs) / 60
        hours = minutes / 60
        gates.append(
            Gate(
                job_id=job_id,
                owner=owners.get(job_id),
                runs=len(jobs),
                minutes_per_week=minutes / (days / 7) if days > 0 else minutes,
                failures=sum(counts.values()),
                real=counts["real"],
                flaky=counts["flaky"],
                infrastructure=counts["infrastructure"],
                open=counts["open"],
                catches_per_hour=counts["real"] / hours if hours > 0 else 0.0,
            )
        )
    return sorted(gates, key=lambda g: (-g.catches_per_hour, -g.minutes_per_week, g.job_id))
