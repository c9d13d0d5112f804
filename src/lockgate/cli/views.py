"""How a run is shown: a live tree on a terminal, plain lines otherwise, nothing for JSON."""

from __future__ import annotations

import sys
import time
from typing import IO

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.text import Text
from rich.tree import Tree

from ..engine.state import Annotation, JobRun, StepRun

ICONS = {
    "success": ("✓", "green"),
    "failure": ("✗", "red"),
    "cancelled": ("⊘", "yellow"),
    "skipped": ("-", "dim"),
    "running": ("●", "cyan"),
    "queued": ("○", "dim"),
    "pending": ("○", "dim"),
}


def _seconds(value: float | None) -> str:
    return "" if value is None else f" {value:.1f}s"


def _icon(state: str) -> Text:
    symbol, style = ICONS.get(state, ("?", ""))
    return Text(symbol, style=style)


class PlainView:
    """One line per event, for logs and pipes."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.console = Console(
            file=stream or sys.stdout,
            highlight=False,
            soft_wrap=True,
            no_color=True,
            markup=False,
            emoji=False,
        )

    def job_updated(self, job: JobRun) -> None:
        state = job.conclusion or job.status
        extra = f": {job.message}" if job.message and job.status == "completed" else ""
        self.console.print(
            f"[{job.name}] job {state}{_seconds(job.duration if job.conclusion else None)}{extra}"
        )

    def step_updated(self, job: JobRun, step: StepRun) -> None:
        if step.status == "running":
            self.console.print(f"[{job.name}] ▶ {step.name}")
        else:
            self.console.print(
                f"[{job.name}] {step.conclusion} {step.name}{_seconds(step.duration)}"
            )

    def log(self, job: JobRun, step: StepRun, line: str) -> None:
        # Written as is: rich would lay out a 10 MB line cell by cell.
        self.console.file.write(f"[{job.name}] | {line}\n")

    def annotation(self, job: JobRun, annotation: Annotation) -> None:
        pass  # annotations also arrive as log lines

    def message(self, text: str, level: str = "info") -> None:
        self.console.print(f"{level}: {text}")

    def close(self) -> None:
        pass


class SilentView(PlainView):
    def __init__(self) -> None:
        super().__init__()

    def job_updated(self, job: JobRun) -> None:
        pass

    def step_updated(self, job: JobRun, step: StepRun) -> None:
        pass

    def log(self, job: JobRun, step: StepRun, line: str) -> None:
        pass

    def message(self, text: str, level: str = "info") -> None:
        print(f"{level}: {text}", file=sys.stderr)


class LiveView(PlainView):
    """A live tree of jobs and steps with status and durations, plus each job's last lines."""

    def __init__(self) -> None:
        super().__init__()
        self.console = Console()
        self.jobs: list[JobRun] = []
        self.last_line: dict[str, str] = {}
        self.started = time.time()  # before Live: it renders as soon as it starts
        self.live = Live(
            console=self.console, refresh_per_second=8, transient=False, get_renderable=self.render
        )
        self.live.start()

    def render(self) -> Group:
        tree = Tree(Text(f"lockgate run  {time.time() - self.started:.1f}s", style="bold"))
        for job in self.jobs:
            state = job.conclusion or job.status
            label = Text.assemble(
                _icon(state),
                " ",
                Text(job.name, style="bold"),
                Text(_seconds(job.duration), style="dim"),
            )
            if job.message and job.status == "completed":
                label.append(f"  {job.message}", style="dim")
            branch = tree.add(label)
            for step in job.steps:
                step_state = step.conclusion or step.status
                branch.add(
                    Text.assemble(
                        _icon(step_state),
                        " ",
                        step.name,
                        Text(_seconds(step.duration), style="dim"),
                    )
                )
            if job.status == "running" and job.key in self.last_line:
                branch.add(Text(self.last_line[job.key][:120], style="dim italic"))
        return Group(tree)

    def job_updated(self, job: JobRun) -> None:
        if job not in self.jobs:
            self.jobs.append(job)

    def step_updated(self, job: JobRun, step: StepRun) -> None:
        pass

    def log(self, job: JobRun, step: StepRun, line: str) -> None:
        self.last_line[job.key] = line

    def message(self, text: str, level: str = "info") -> None:
        shown = escape(text)  # user text (job names, messages) is never markup
        self.live.console.print(f"[yellow]{level}[/]: {shown}" if level != "info" else shown)

    def close(self) -> None:
        self.live.refresh()
        self.live.stop()
