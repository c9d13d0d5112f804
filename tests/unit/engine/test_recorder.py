"""The recorder, over a real SQLite store: steps numbered in order, every text masked before
it is stored or shown, log lines stored in batches that a step's end writes out."""

from __future__ import annotations

from pathlib import Path

from lockgate.engine.masking import Masker
from lockgate.engine.recorder import LOG_FLUSH_LINES, Recorder
from lockgate.engine.state import Annotation, JobRun, Silent, StepRun
from lockgate.store import Store
from lockgate.store.records import Conclusion


class Seen(Silent):
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.steps: list[tuple[int, str]] = []

    def log(self, job: JobRun, step: StepRun, line: str) -> None:
        self.lines.append(line)

    def step_updated(self, job: JobRun, step: StepRun) -> None:
        self.steps.append((step.number, step.status))


def _recorder(tmp_path: Path) -> tuple[Recorder, Store, Seen, JobRun]:
    store = Store(f"sqlite:///{tmp_path / 'lockgate.db'}")
    masker = Masker()
    masker.add("hunter2")
    seen = Seen()
    recorder = Recorder(store, seen, masker)
    run_id = recorder.run_created(
        workflow="ci", workflow_file="ci.yml", event="push", sha="s", ref="refs/heads/main",
        branch="main", dirty=False, actor="ana", repo_dir=str(tmp_path),
    )  # fmt: skip
    job = JobRun("test", "test", "test", {})
    recorder.job_created(job, run_id, status="queued")
    return recorder, store, seen, job


def test_steps_are_numbered_and_everything_is_masked(tmp_path: Path) -> None:
    recorder, store, seen, job = _recorder(tmp_path)
    recorder.job_started(job)
    first = recorder.step_started(job, "login as hunter2")
    recorder.log(job, first, "password hunter2 accepted")
    first.outputs["token"] = "hunter2"
    recorder.annotate(job, Annotation("warning", "saw hunter2", file="hunter2.py"), first)
    recorder.step_finished(job, first, Conclusion.SUCCESS, Conclusion.SUCCESS)
    second = recorder.step_started(job, "next")
    recorder.step_skipped(job, second)
    recorder.job_finished(job)
    assert [s.number for s in job.steps] == [1, 2] and first.name == "login as ***"
    assert seen.steps == [(1, "running"), (1, "completed"), (2, "running"), (2, "skipped")]
    logs = [line for _, _, line in store.job_logs(job.row)]
    assert logs == ["password *** accepted", "warning ***.py:: saw ***"] == seen.lines
    (note,) = store.job_annotations(job.row)
    assert (note.message, note.file) == ("saw ***", "***.py")
    assert "hunter2" not in repr(store.get_run(1))


def test_log_lines_are_written_in_batches(tmp_path: Path) -> None:
    recorder, store, _, job = _recorder(tmp_path)
    step = recorder.step_started(job, "chatty")
    for n in range(LOG_FLUSH_LINES - 1):
        recorder.log(job, step, f"line {n}")
    assert list(store.job_logs(job.row)) == []  # not yet: one insert per batch
    recorder.log(job, step, "the batch is full")
    assert len(list(store.job_logs(job.row))) == LOG_FLUSH_LINES
    recorder.log(job, step, "the last line")
    recorder.step_finished(job, step, "success", "success")  # its end writes what is left
    assert [line for _, _, line in store.job_logs(job.row)][-1] == "the last line"
