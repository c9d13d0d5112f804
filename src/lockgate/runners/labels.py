"""Which worker may take a job: one that has every label of its `runs-on`. A job goes to the
broker queue named after its labels, and a worker listens on the queue of every subset of its
own, so routing needs nothing from the server but the queue's name."""

from __future__ import annotations

import itertools
import re

from ..common.errors import UserError

# Every worker is a self-hosted Linux machine, and GitHub's ubuntu images are what it stands for.
IMPLICIT = frozenset({"self-hosted", "linux", "local"})
MAX_LABELS = 8  # a worker listens on 2**n queues
_LABEL = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
QUEUE_PREFIX = "lockgate.jobs"


def wanted(runs_on: tuple[str, ...]) -> tuple[str, ...]:
    """A job's labels as a worker must have them: lowercased, sorted, without those every
    worker has."""
    labels = {label.strip().lower() for label in runs_on}
    return tuple(sorted(x for x in labels if x and x not in IMPLICIT and not _ubuntu(x)))


def _ubuntu(label: str) -> bool:
    return label.startswith("ubuntu-")


def queue_of(labels: tuple[str, ...]) -> str:
    return QUEUE_PREFIX + ("." + "+".join(labels) if labels else "")


def worker_labels(given: str, arch: str) -> tuple[str, ...]:
    """`--labels a,b` plus the machine's architecture, checked; a UserError says which label
    is wrong and why."""
    labels = {arch.lower()}
    for label in given.split(","):
        label = label.strip().lower()
        if not label or label in IMPLICIT:
            continue
        if not _LABEL.fullmatch(label):
            raise UserError(f"{label!r} is not a label", where="--labels",
                            hint="letters, digits, '.', '_' and '-', up to 64")  # fmt: skip
        labels.add(label)
    if len(labels) > MAX_LABELS:
        raise UserError(f"{len(labels)} labels (with the architecture); at most {MAX_LABELS}",
                        where="--labels")  # fmt: skip
    return tuple(sorted(labels))


def queues_for(labels: tuple[str, ...]) -> list[str]:
    """The queues a worker with `labels` listens on: one per subset of them."""
    ordered = sorted(set(labels))
    subsets = (c for n in range(len(ordered) + 1) for c in itertools.combinations(ordered, n))
    return [queue_of(subset) for subset in subsets]


def can_run(worker: tuple[str, ...], job: tuple[str, ...]) -> bool:
    return set(job) <= set(worker)
