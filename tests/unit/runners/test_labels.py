"""Which worker may take a job, and the queues that route it there."""

from __future__ import annotations

import pytest

from lockgate.common.errors import UserError
from lockgate.runners.labels import can_run, queue_of, queues_for, wanted, worker_labels


def test_a_job_wants_its_labels_without_those_every_worker_has() -> None:
    assert wanted(("ubuntu-latest",)) == ()
    assert wanted(("self-hosted", "Linux", "GPU", "x64")) == ("gpu", "x64")
    assert wanted(("ubuntu-22.04", "arm64", "arm64")) == ("arm64",)


def test_a_worker_listens_on_every_subset_of_its_labels_so_a_job_reaches_it() -> None:
    queues = queues_for(("gpu", "x64"))
    assert queues == ["lockgate.jobs", "lockgate.jobs.gpu", "lockgate.jobs.x64",
                      "lockgate.jobs.gpu+x64"]  # fmt: skip
    for job in ((), ("gpu",), ("x64",), ("gpu", "x64")):
        assert queue_of(job) in queues and can_run(("gpu", "x64"), job)
    assert queue_of(("arm64",)) not in queues and not can_run(("gpu", "x64"), ("arm64",))
    assert len(queues_for(("a", "b", "c", "d", "e", "f", "g", "h"))) == 256


def test_a_workers_labels_are_checked_and_get_its_architecture() -> None:
    assert worker_labels("GPU, self-hosted,,cuda-12", "X64") == ("cuda-12", "gpu", "x64")
    with pytest.raises(UserError, match="'gp u' is not a label"):
        worker_labels("gp u", "X64")
    with pytest.raises(UserError, match="9 labels"):
        worker_labels("a,b,c,d,e,f,g,h", "X64")
