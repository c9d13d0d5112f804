"""What is wrong with a workflow file: every problem with its position, reported together."""

from __future__ import annotations

from dataclasses import dataclass

from ..common.errors import UserError


@dataclass(frozen=True)
class Problem:
    message: str
    line: int = 0  # 0: the file as a whole
    col: int = 0
    hint: str = ""

    def where(self, display: str) -> str:
        return f"{display}:{self.line}:{self.col}" if self.line else display


@dataclass(frozen=True)
class Limits:
    """GitHub's limits on a workflow file; the defaults are github.com's."""

    max_file_size: int = 1024 * 1024
    max_depth: int = 50
    max_jobs: int = 256
    max_nested_calls: int = 4
    max_expression_length: int = 21000
    max_result_size: int = 10 * 1024 * 1024  # bytes, as workflow/size.py measures them
    background_steps: bool = False  # GitHub's experimental background/wait/cancel steps


HINT = "see https://docs.github.com/actions/reference/workflow-syntax-for-github-actions"


class WorkflowInvalid(UserError):
    """A workflow GitHub would refuse: every problem found, in file order."""

    def __init__(self, display: str, problems: list[Problem]) -> None:
        ordered = sorted(problems, key=lambda p: (p.line, p.col))
        first = ordered[0]
        rest = "".join(f"\n{p.where(display)}: {p.message}" for p in ordered[1:])
        super().__init__(first.message + rest, where=first.where(display), hint=first.hint or HINT)
        self.problems = ordered
