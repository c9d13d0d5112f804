"""What the web UI's pages show, built from the store as typed records: pure reading, no HTML
beyond a log line's colours (ansi) and a job summary's Markdown (raw HTML disabled)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from markdown_it import MarkdownIt

from ..common.gitinfo import without_credentials
from ..store import Store
from ..store.protections import Review, ReviewRecords
from ..store.queue import Queue, QueuedRun, QueueStatus
from ..store.records import JobRecord, RunRecord, Status
from . import ansi

MAX_LOG_LINES = 20_000  # per job on one page; the API streams all of it
MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def outcome(status: str, conclusion: str | None) -> str:
    """One word for colour and filters: success, failure, cancelled, skipped, running, ..."""
    if status == Status.COMPLETED and conclusion:
        return conclusion
    return status


def took(started: float | None, finished: float | None) -> str:
    if started is None:
        return ""
    seconds = (finished or time.time()) - started
    if seconds < 60:
        return f"{seconds:.1f}s"
    return f"{int(seconds // 60)}m {int(seconds % 60)}s"


@dataclass(frozen=True)
class RunRow:
    id: int
    workflow: str
    event: str
    branch: str
    sha: str
    actor: str
    outcome: str
    started_at: float
    took: str
    trigger_id: int | None


def run_row(run: RunRecord) -> RunRow:
    return RunRow(
        run.id, run.workflow, run.event, run.branch, run.sha[:12], run.actor,
        outcome(run.status, run.conclusion), run.started_at, took(run.started_at, run.finished_at),
        run.trigger_id,
    )  # fmt: skip


@dataclass(frozen=True)
class Waiting:
    """A queued run that has no run yet: waiting for a worker, or fetching."""

    id: int
    event: str
    repository: str
    ref: str
    commit: str
    status: str
    message: str | None


def waiting(items: list[QueuedRun], store: Store) -> list[Waiting]:
    found = []
    for item in items:
        if item.status in (QueueStatus.QUEUED, QueueStatus.RUNNING) and not store.runs_of_trigger(
            item.id
        ):
            trigger = item.trigger
            found.append(
                Waiting(
                    item.id,
                    trigger.event,
                    trigger.repository,
                    trigger.ref,
                    trigger.after[:12],
                    item.status.value,
                    item.message,
                )
            )
    return found


@dataclass(frozen=True)
class LogLine:
    id: int
    number: int  # within its step, from 1, as GitHub numbers them
    time: str  # UTC, to the millisecond
    html: str


def clock_time(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}"


@dataclass
class StepView:
    number: int
    name: str
    outcome: str
    took: str
    lines: list[LogLine] = field(default_factory=list)


@dataclass(frozen=True)
class AnnotationView:
    level: str
    message: str
    title: str | None
    where: str | None


@dataclass
class JobView:
    row: int
    key: str
    job_id: str
    name: str
    outcome: str
    took: str
    needs: list[str]
    column: int
    message: str | None
    steps: list[StepView]
    annotations: list[AnnotationView]
    summary_html: str | None
    cached_from: int | None
    truncated: bool = False
    rerun_id: str | None = None  # the job id a rerun of this job names; None in a called one
    environment: str | None = None  # the environment it deploys to
    environment_url: str | None = None  # what `environment: {url}` gave
    runner: str | None = None  # the worker that ran it; None: the server's machine

    @property
    def node_id(self) -> str:
        """The id its dependents' `needs` name it by: a called workflow's jobs keep the
        prefix of the job that called them (`deploy / build`)."""
        prefix, _, _ = self.key.rpartition(" / ")
        return f"{prefix} / {self.job_id}" if prefix else self.job_id


@dataclass(frozen=True)
class ArtifactView:
    id: int
    name: str
    size: int


@dataclass(frozen=True)
class Origin:
    """Where a run comes from, as a run page heads it."""

    repository: str
    ref_kind: str  # branch | tag | pull request | ref
    ref_name: str
    commit_message: str | None
    commit_author: str | None
    trigger: str  # what asked for it: a push, a manual run, a rerun of #N, ...


def origin(run: RunRecord, item: QueuedRun | None) -> Origin:
    kinds = {"refs/heads/": "branch", "refs/tags/": "tag", "refs/pull/": "pull request"}
    kind, name = next(
        ((k, run.ref.removeprefix(p)) for p, k in kinds.items() if run.ref.startswith(p)),
        ("ref", run.ref),
    )
    if item is None:
        return Origin(run.repo_dir, kind, name, run.commit_message, run.commit_author,
                      f"{run.event} (lockgate run)")  # fmt: skip
    trigger = item.trigger
    if trigger.delivery.startswith("rerun:"):
        said = f"re-run of #{trigger.delivery.split(':')[1]}"
        if trigger.jobs:
            said += f" ({', '.join(trigger.jobs)}; the rest taken from it)"
    elif trigger.source == "manual":
        said = f"{trigger.event}, asked for by hand"
    else:
        said = f"{trigger.event} from {trigger.source}"
    shown = without_credentials(trigger.repository)
    return Origin(shown, kind, name, run.commit_message, run.commit_author, said)


@dataclass(frozen=True)
class RunPage:
    run: RunRow
    origin: Origin
    reviews: list[Review]  # the reviews its jobs held by protected environments wait for
    repo_dir: str
    jobs: list[JobView]
    columns: list[list[JobView]]  # the needs graph, a column per depth
    artifacts: list[ArtifactView]
    last_line: int  # the newest log line shown: the live tail starts after it
    running: bool

    @property
    def failed(self) -> bool:
        """A job failed or was cancelled: "re-run failed jobs" has something to run."""
        return any(job.outcome in ("failure", "cancelled") for job in self.jobs)


def _columns(jobs: list[JobView]) -> list[list[JobView]]:
    """Each job in the column after the deepest job it needs (matrix jobs share an id)."""
    by_id: dict[str, list[JobView]] = {}
    for job in jobs:
        by_id.setdefault(job.job_id, []).append(job)
    depth: dict[str, int] = {}

    def depth_of(job_id: str, seen: frozenset[str]) -> int:
        if job_id not in depth:
            needs = {n for j in by_id.get(job_id, []) for n in j.needs if n in by_id}
            depth[job_id] = 1 + max(
                (depth_of(n, seen | {job_id}) for n in needs if n not in seen), default=-1
            )
        return depth[job_id]

    columns: list[list[JobView]] = []
    for job in jobs:
        job.column = depth_of(job.job_id, frozenset())
        while len(columns) <= job.column:
            columns.append([])
        columns[job.column].append(job)
    return columns


def _web(url: str | None) -> str | None:
    """A link the page may show: http(s) only (a workflow could give `javascript:`)."""
    return url if url and url.startswith(("https://", "http://")) else None


def _job(job: JobRecord, store: Store, with_logs: bool) -> tuple[JobView, int]:
    steps = {
        s.number: StepView(
            s.number, s.name, outcome(s.status, s.conclusion), took(s.started_at, s.finished_at)
        )
        for s in job.steps
    }
    # Step 0 holds what a job logs before its first step (and a cache hit's note).
    lines = store.job_log_lines(job.id, MAX_LOG_LINES + 1) if with_logs else []
    last, truncated = 0, len(lines) > MAX_LOG_LINES
    for line_id, step, ts, text in lines[:MAX_LOG_LINES]:
        holder = steps.get(step)
        if holder is None:
            holder = steps[step] = StepView(step, "Set up job" if step == 0 else f"Step {step}",
                                            "success", "")  # fmt: skip
        number = len(holder.lines) + 1
        holder.lines.append(LogLine(line_id, number, clock_time(ts), ansi.to_html(text)))
        last = max(last, line_id)
    notes = [
        AnnotationView(a.level, a.message, a.title, f"{a.file}:{a.line or 1}" if a.file else None)
        for a in job.annotations
    ]
    summary = MARKDOWN.render(job.summary) if job.summary else None
    view = JobView(
        job.id, job.key, job.job_id, job.name,
        outcome(job.status, job.conclusion), took(job.started_at, job.finished_at),
        list(job.needs or []), 0, job.message,
        [steps[n] for n in sorted(steps)], notes, summary, job.cached_from, truncated,
        job.job_id if " / " not in job.key else None, job.environment, _web(job.environment_url),
        job.runner,
    )  # fmt: skip
    return view, last


def run_page(store: Store, queue: Queue, run_id: int, with_logs: bool = True) -> RunPage | None:
    """The run page's records; without the logs for what needs only the jobs (the graph
    the page refreshes every few seconds)."""
    found = store.get_run(run_id)
    if found is None:
        return None
    built = [_job(job, store, with_logs) for job in found.jobs]
    jobs = [view for view, _ in built]
    item = queue.get(found.trigger_id) if found.trigger_id else None
    return RunPage(
        run_row(found),
        origin(found, item),
        ReviewRecords(store).of_run(run_id),
        found.repo_dir,
        jobs,
        _columns(jobs),
        [ArtifactView(a.id, a.name, a.size) for a in found.artifacts],
        max((last for _, last in built), default=0),
        found.status == Status.RUNNING,
    )
