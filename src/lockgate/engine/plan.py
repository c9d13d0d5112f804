"""Which workflows an event triggers, and the order their jobs can run in."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..common.errors import UserError
from ..workflow.expressions import ExpressionError, Value, to_string
from ..workflow.expressions import evaluate as evaluate_expression
from ..workflow.loader import LoadedWorkflow, load_workflow, local_calls
from ..workflow.schema import CallJob, Job
from ..workflow.template import render
from .matrix import MatrixError, expand
from .matrix import label as matrix_label
from .scheduling import JobStats, fastest_first, job_stats
from .triggers import Event, triggered


def workflow_files(repo_dir: Path, target: Path | None) -> list[Path]:
    path = target if target is not None else repo_dir / ".github" / "workflows"
    if not path.is_absolute():
        path = repo_dir / path
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted([*path.glob("*.yml"), *path.glob("*.yaml")])
        if files:
            return files
        raise UserError(
            f"no workflow files (*.yml, *.yaml) in {path}",
            where="-W",
            hint="point -W at a workflow file or a directory of them",
        )
    raise UserError(
        f"{path} does not exist",
        where="-W",
        hint="pass -W FILE_OR_DIR, or run from a repository with .github/workflows",
    )


@dataclass(frozen=True)
class Selection:
    triggered: list[LoadedWorkflow]
    not_triggered: list[tuple[LoadedWorkflow, str]]


def select(repo_dir: Path, target: Path | None, event: Event) -> Selection:
    chosen, skipped = [], []
    for path in workflow_files(repo_dir, target):
        try:
            shown = str(path.relative_to(repo_dir))
        except ValueError:
            shown = str(path)
        wf = load_workflow(path, shown, local_calls(repo_dir))
        yes, why = triggered(wf.model, event)
        if yes:
            chosen.append(wf)
        else:
            skipped.append((wf, why))
    return Selection(chosen, skipped)


def topological_order(needs: Mapping[str, Sequence[str]], where: str = "") -> list[str]:
    """Jobs in an order where every job follows what it needs; a cycle is an error naming it."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = [*path[path.index(node) :], node]
            raise UserError(
                f"jobs form a cycle: {' -> '.join(cycle)}",
                where=where,
                hint="remove one of these `needs:` so the jobs can run in order",
            )
        state[node] = 1
        path.append(node)
        for dep in needs.get(node, ()):
            visit(dep)
        path.pop()
        state[node] = 2
        order.append(node)

    for node in needs:
        visit(node)
    return order


def job_needs(wf: LoadedWorkflow) -> dict[str, list[str]]:
    return {job_id: list(job.needs) for job_id, job in wf.model.jobs.items()}


def closure(needs: Mapping[str, Sequence[str]], wanted: Iterable[str]) -> set[str]:
    """The wanted jobs plus everything they need, transitively."""
    result: set[str] = set()
    stack = list(wanted)
    while stack:
        job = stack.pop()
        if job not in result:
            result.add(job)
            stack.extend(needs.get(job, ()))
    return result


def stages(needs: Mapping[str, Sequence[str]], order: Sequence[str]) -> list[list[str]]:
    """Jobs grouped by depth in the DAG: stage N needs only jobs of earlier stages."""
    depth: dict[str, int] = {}
    for job in order:
        depth[job] = 1 + max((depth[d] for d in needs.get(job, ())), default=-1)
    grouped: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for job in order:
        grouped[depth[job]].append(job)
    return grouped


def describe_runs_on(job: Job) -> str:
    runs_on = job.runs_on
    if isinstance(runs_on, str):
        return runs_on
    if isinstance(runs_on, list):
        return ", ".join(runs_on)
    labels = runs_on.labels
    return f"group {runs_on.group or ''} {labels or ''}".strip()


def shown(text: str, matrix: Mapping[str, object]) -> str:
    """A job's `name:` or `runs-on:` as the plan shows it: `${{ matrix.* }}` filled in; what
    only a run can know (needs, github.event...) is left as written."""
    contexts = {"matrix": dict(matrix), "strategy": {}, "inputs": {}, "vars": {}, "needs": {}}

    def evaluate(source: str) -> Value:
        return evaluate_expression(source, contexts)

    try:
        return to_string(render(text, evaluate))
    except ExpressionError:
        return text


@dataclass(frozen=True)
class PlannedJob:
    """One job a (matrix) job becomes: its name and its runner, as far as the plan can tell."""

    name: str
    runs_on: str


def planned_jobs(job_id: str, job: Job, combinations: list[dict[str, object]]) -> list[PlannedJob]:
    """Name and runner of each job a (matrix) job becomes."""
    runs_on = describe_runs_on(job)
    found = []
    for combination in combinations or [{}]:
        label = matrix_label(combination)
        name = shown(job.name, combination) if job.name else job_id
        if combination and not (job.name and "${{" in job.name):
            name = f"{name} ({label})"
        found.append(PlannedJob(name, shown(runs_on, combination)))
    return found


@dataclass(frozen=True)
class PlanEntry:
    """A job of the workflow file in its stage: what it needs, where it runs (or the reusable
    workflow it calls), its matrix (the combinations, or why only a run can know them), and
    what its history says of it."""

    job: str
    needs: list[str]
    history: str
    runs_on: str | None = None
    uses: str | None = None
    matrix: list[dict[str, object]] | str | None = None
    jobs: list[PlannedJob] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class PlannedWorkflow:
    workflow: str
    file: str
    stages: list[list[PlanEntry]]  # stage N needs only jobs of earlier stages


@dataclass(frozen=True)
class NotTriggered:
    file: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """What a run would do, without running: `lockgate run --list`."""

    workflows: list[PlannedWorkflow]
    not_triggered: list[NotTriggered]

    def as_json(self) -> dict[str, object]:
        """The plan as JSON: a field a job does not have (a matrix, `uses`) is left out."""
        return {
            "workflows": [
                {"workflow": w.workflow, "file": w.file,
                 "stages": [[e.as_json() for e in stage] for stage in w.stages]}
                for w in self.workflows
            ],
            "not_triggered": [asdict(n) for n in self.not_triggered],
        }  # fmt: skip


def _entry(job_id: str, job: Job | CallJob, needs: list[str], stats: JobStats | None) -> PlanEntry:
    history = stats.describe() if stats else "no history"
    matrix = job.strategy.matrix if job.strategy else None
    combinations: list[dict[str, object]] = []
    described: list[dict[str, object]] | str | None = None
    if isinstance(matrix, dict):
        try:
            combinations = described = expand(matrix)
        except MatrixError as exc:
            described = f"computed at run time ({exc})"
    elif matrix is not None:
        described = "computed at run time"
    if isinstance(job, CallJob):
        return PlanEntry(job_id, needs, history, uses=job.uses, matrix=described)
    return PlanEntry(job_id, needs, history, runs_on=describe_runs_on(job), matrix=described,
                     jobs=planned_jobs(job_id, job, combinations))  # fmt: skip


def describe(
    chosen: Sequence[LoadedWorkflow],
    not_triggered: Sequence[tuple[LoadedWorkflow, str]],
    history: Callable[[str], dict[str, list[tuple[str, float]]]] | None = None,
    only: Sequence[str] = (),
) -> Plan:
    """The plan of the chosen workflows (the jobs `only` names and what they need, when it
    names any), in stages, each stage in the order jobs would start (`history`: a workflow
    file's past job outcomes, for fastest-first)."""
    planned = []
    for wf in chosen:
        needs = job_needs(wf)
        wanted = [j for j in only if j in needs]
        if wanted:  # the selection and what it needs, as `run -j` would run
            keep = closure(needs, wanted)
            needs = {job: deps for job, deps in needs.items() if job in keep}
        order = topological_order(needs, where=wf.display)
        stats = job_stats(history(wf.display)) if history else {}
        stages_of = []
        for stage in stages(needs, order):
            in_file_order = [j for j in wf.model.jobs if j in stage]
            stages_of.append([
                _entry(job_id, wf.model.jobs[job_id], needs[job_id], stats.get(job_id))
                for job_id in fastest_first(in_file_order, stats)
            ])  # fmt: skip
        planned.append(PlannedWorkflow(wf.model.name or wf.display, wf.display, stages_of))
    return Plan(planned, [NotTriggered(wf.display, why) for wf, why in not_triggered])
