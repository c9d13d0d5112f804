"""Assignments move by compare-and-set: a job delivered twice runs once; a lost worker's job
is taken back only from that worker and attempt; a cancel stops a queued one at once."""

from __future__ import annotations

import time
from pathlib import Path

from lockgate.store import Store
from lockgate.store.records import Conclusion
from lockgate.store.workers import (
    AssignmentRecords,
    AssignmentState,
    WorkerRecords,
    WorkerState,
    offline_after,
)


def records(tmp_path: Path) -> tuple[AssignmentRecords, WorkerRecords]:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    return AssignmentRecords(store), WorkerRecords(store)


def test_a_job_is_claimed_once_and_only_its_worker_beats_and_ends_it(tmp_path: Path) -> None:
    assignments, _ = records(tmp_path)
    made = assignments.create(1, 7, ("gpu",), "lockgate.jobs.gpu", "{}", b"sealed", "/srv")
    assert assignments.claim(made.id, "w1", 1)
    assert not assignments.claim(made.id, "w2", 1)  # a second delivery
    assert assignments.beat(made.id, "w2") is None
    assert assignments.beat(made.id, "w1") is not None
    assert not assignments.finish(made.id, "w2")
    assert assignments.finish(made.id, "w1")
    done = assignments.get(made.id)
    assert done is not None and done.state == AssignmentState.DONE
    assert done.sealed_secrets is None  # dropped at the end
    assert assignments.jobs_run() == {"w1": 1}


def test_a_lost_workers_job_goes_again_once_and_its_old_delivery_is_refused(tmp_path: Path) -> None:
    assignments, _ = records(tmp_path)
    made = assignments.create(1, 7, (), "lockgate.jobs", "{}", None, "/srv")
    assert assignments.claim(made.id, "w1", 1)
    assert assignments.send_again(made.id, "w1", 1)
    assert not assignments.send_again(made.id, "w1", 1)  # once
    assert not assignments.claim(made.id, "w3", 1)  # the first message, redelivered late
    assert assignments.beat(made.id, "w1") is None  # the lost one is told it is not its own
    assert assignments.claim(made.id, "w2", 2)
    again = assignments.get(made.id)
    assert again is not None and again.attempt == 2 and again.worker == "w2"
    assert again.message == "worker w1 was lost on attempt 1"


def test_a_cancel_ends_a_queued_job_and_flags_a_running_one(tmp_path: Path) -> None:
    assignments, _ = records(tmp_path)
    queued = assignments.create(1, 7, (), "lockgate.jobs", "{}", b"x", "/srv")
    running = assignments.create(1, 8, (), "lockgate.jobs", "{}", b"x", "/srv")
    assert assignments.claim(running.id, "w1", 1)
    for one in (queued, running):
        assignments.request_cancel(one.id)
    first, second = assignments.get(queued.id), assignments.get(running.id)
    assert first is not None and first.state == AssignmentState.CANCELLED
    assert not assignments.claim(queued.id, "w1", 1)
    assert second is not None and second.state == AssignmentState.RUNNING and second.cancel


def test_a_silent_worker_shows_offline_and_a_new_start_clears_a_drain(tmp_path: Path) -> None:
    _, workers = records(tmp_path)
    seen = workers.heartbeat("w1", ("gpu",), 2, "host", WorkerState.IDLE)
    assert seen.online(time.time(), 15) and not seen.online(time.time() + 60, 15)
    assert seen.shown_state(time.time() + 60, 15) == WorkerState.OFFLINE
    assert offline_after(3) == 6 and offline_after(30) == 30  # never under 3 heartbeats
    assert workers.drain("w1") and not workers.drain("nobody")
    drained = workers.heartbeat("w1", ("gpu",), 2, "host", WorkerState.DRAINING)
    assert drained.drain
    workers.heartbeat("w1", ("gpu",), 2, "host", WorkerState.STOPPED)
    restarted = workers.heartbeat("w1", ("gpu",), 2, "host", WorkerState.IDLE)
    assert not restarted.drain


def test_a_runs_jobs_on_workers_stop_when_its_process_is_gone(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    fields = {"workflow": "ci", "workflow_file": "ci.yml", "event": "push", "sha": "a" * 40,
              "ref": "refs/heads/main", "branch": "main", "dirty": False, "actor": "t",
              "repo_dir": "/srv"}  # fmt: skip
    alive, dead = store.create_run(**fields), store.create_run(**fields)
    store.finish_run(dead, Conclusion.CANCELLED)
    assignments = AssignmentRecords(store)
    made = {name: assignments.create(run, 1, (), "lockgate.jobs", "{}", b"x", "/srv")
            for name, run in (("alive", alive), ("queued", dead), ("running", dead))}  # fmt: skip
    for name in ("alive", "running"):
        assert assignments.claim(made[name].id, "w1", 1)
    assert assignments.abandon_orphans() == 2
    found = {name: assignments.get(one.id) for name, one in made.items()}
    assert found["alive"] is not None and not found["alive"].cancel
    assert found["queued"] is not None and found["queued"].state == AssignmentState.CANCELLED
    assert found["running"] is not None and found["running"].cancel
    assert assignments.abandon_orphans() == 0
