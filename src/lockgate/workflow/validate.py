"""A workflow file's text -> its token tree and every problem GitHub would report."""

from __future__ import annotations

from dataclasses import dataclass

from .problems import Limits, Problem
from .reader import read_workflow
from .semantics import OVERSIZED, CalledWorkflows, Checker
from .size import file_bytes
from .tokens import Map, Token, read_tokens


@dataclass(frozen=True)
class Validated:
    root: Token | None
    problems: list[Problem]


GITHUB_COM = Limits()


def validate(
    text: str,
    limits: Limits = GITHUB_COM,
    called: CalledWorkflows | None = None,
    name: str = ".github/workflows/workflow.yml",
) -> Validated:
    """`name` is the file's path in its repository, which GitHub counts in the result's size."""
    if len(text) > limits.max_file_size:
        message = f"The maximum file size of {limits.max_file_size} characters has been exceeded"
        return Validated(None, [Problem(message)])
    document = read_tokens(text)
    root = document.root
    if document.problems:
        return Validated(root, document.problems)
    if root is None:
        return Validated(None, [Problem("Required property is missing: jobs", 1, 1)])
    size = file_bytes(name, root)
    if size > limits.max_result_size:
        return Validated(root, [Problem(OVERSIZED)])
    problems = read_workflow(root, text.splitlines(), limits)
    if problems or not isinstance(root, Map):
        return Validated(root, problems)
    checker = Checker(limits, called, result_bytes=size)
    checker.workflow(root)
    checker.finish()
    return Validated(root, checker.problems)
