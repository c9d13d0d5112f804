"""Checks GitHub makes after the grammar: identifiers, the needs graph, matrices, steps, calls.

Reusable workflows a job calls are read through a `CalledWorkflows` source, so their inputs,
secrets, jobs and permissions are checked against the call as GitHub checks them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .grammar import JOB_IF, PERMISSION_SCOPES, STEP_IF
from .problems import Limits, Problem
from .reader import Allowed, check_expression, read_workflow
from .size import file_bytes
from .template import OPEN
from .tokens import Map, Scalar, Seq, Token, read_tokens

ID_CHARS = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
MAX_ID_LENGTH = 100
USES = re.compile(r"[^/@]+/[^/@]+(/[^@]*)?@.+")

# (path as written in `uses:`) -> the called file's text, or None when it cannot be had.
CalledWorkflows = Callable[[str], str | None]

OVERSIZED = "Maximum object size exceeded"

RANK = {"none": 0, "read": 1, "write": 2}
DEFAULT_GRANT = {
    s: ("read" if s in ("contents", "packages") else "none") for s in PERMISSION_SCOPES
}


def permission_levels(token: Token) -> dict[str, str]:
    """`permissions:` as a level per scope (unnamed scopes are `none`)."""
    if isinstance(token, Scalar) and token.value in ("read-all", "write-all"):
        level = str(token.value).removesuffix("-all")
        allowed = {
            "read": ("perm-any", "perm-read-or-none"),
            "write": ("perm-any", "perm-write-or-none"),
        }[level]
        return {s: (level if kind in allowed else "none") for s, kind in PERMISSION_SCOPES.items()}
    levels = dict.fromkeys(PERMISSION_SCOPES, "none")
    if isinstance(token, Map):
        for key, value in token.pairs:
            if key.text() in levels and isinstance(value, Scalar) and value.value in RANK:
                levels[key.text()] = str(value.value)
    return levels


def id_problem(value: str, known: set[str]) -> str | None:
    """GitHub's message for an invalid or repeated job/step id, or None (then remembers it)."""
    if not value or not ID_CHARS.fullmatch(value) or len(value) >= MAX_ID_LENGTH:
        return (
            f"The identifier '{value}' is invalid. IDs may only contain alphanumeric characters, "
            "'_', and '-'. IDs must start with a letter or '_' and and must be less than "
            f"{MAX_ID_LENGTH} characters."
        )
    if value.startswith("__"):
        return f"The identifier '{value}' is invalid. IDs starting with '__' are reserved."
    if value.upper() in known:
        return f"The identifier '{value}' may not be used more than once within the same scope."
    known.add(value.upper())
    return None


def _strings(token: Token | None) -> list[Scalar]:
    if isinstance(token, Scalar) and isinstance(token.value, str):
        return [token]
    if isinstance(token, Seq):
        return [t for t in token.items if isinstance(t, Scalar) and isinstance(t.value, str)]
    return []


def _is_expression(token: Token | None) -> bool:
    return isinstance(token, Scalar) and isinstance(token.value, str) and OPEN in token.value


@dataclass
class Checker:
    limits: Limits
    called: CalledWorkflows | None = None
    problems: list[Problem] = field(default_factory=list)
    job_count: int = 0
    # What a called workflow may ask for: its caller's grant, by default contents/packages read.
    inherited: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_GRANT))
    workflow_permissions: Token | None = None
    job_key: dict[int, Scalar] = field(default_factory=dict)
    result_bytes: int = 0  # the size of everything read so far, as GitHub measures it

    def error(self, message: str, at: Token | None = None) -> None:
        self.problems.append(
            Problem(message, at.line, at.col) if at is not None else Problem(message)
        )

    def workflow(self, root: Map, depth: int = 0) -> None:
        jobs = root.get("jobs")
        if not isinstance(jobs, Map):
            return
        outer = self.workflow_permissions
        self.workflow_permissions = root.get("permissions")
        known: set[str] = set()
        for key, job in jobs.pairs:
            problem = id_problem(key.text(), known)
            if problem:
                self.error(problem, key)
            if isinstance(job, Map):
                self.job_key[id(job)] = key
                self.job(job, depth)
        self.needs(jobs)
        self.workflow_permissions = outer

    def needs(self, jobs: Map) -> None:
        """Every job reachable from one with no needs; unknown needs and cycles named."""
        waiting: dict[str, list[Scalar]] = {}
        ready: list[str] = []
        for key, job in jobs.pairs:
            needed = _strings(job.get("needs")) if isinstance(job, Map) else []
            if needed:
                waiting[key.text()] = list(needed)
            else:
                ready.append(key.text())
        if not ready:
            self.error("The workflow must contain at least one job with no dependencies.", jobs)
            return
        while ready:
            done = ready.pop(0)
            for name in list(waiting):
                waiting[name] = [n for n in waiting[name] if n.value != done]
                if not waiting[name]:
                    del waiting[name]
                    ready.append(name)
        names = {k.text() for k, _ in jobs.pairs}
        for name, needed in waiting.items():
            for need in needed:
                if need.value in names:
                    self.error(
                        f"Job '{name}' depends on job '{need.value}' which creates a cycle in "
                        "the dependency graph.",
                        need,
                    )
                else:
                    self.error(f"Job '{name}' depends on unknown job '{need.value}'.", need)

    def job(self, job: Map, depth: int) -> None:
        self.job_count += 1
        self.condition(job.get("if"), JOB_IF)
        runs_on = job.get("runs-on")
        if isinstance(runs_on, Map):
            self.runner_group(runs_on.get("group"))
        strategy = job.get("strategy")
        if isinstance(strategy, Map):
            matrix = strategy.get("matrix")
            if isinstance(matrix, Map):
                for key, value in matrix.pairs:
                    vector = key.text() not in ("include", "exclude") and isinstance(value, Seq)
                    if vector and isinstance(value, Seq) and not value.items:
                        self.error(
                            f"Matrix vector '{key.text()}' does not contain any values", value
                        )
        self.container(job.get("container"))
        services = job.get("services")
        if isinstance(services, Map):
            for _, service in services.pairs:
                self.container(service)
        steps = job.get("steps")
        if isinstance(steps, Seq):
            self.steps(steps)
        uses = job.get("uses")
        if isinstance(uses, Scalar) and isinstance(uses.value, str):
            self.call(job, uses, depth)

    def runner_group(self, group: Token | None) -> None:
        if (
            not isinstance(group, Scalar)
            or not isinstance(group.value, str)
            or _is_expression(group)
        ):
            return
        parts = group.value.split("/")
        prefix_hint = (
            f"Invalid runs-on group name '{group.value}'. Please use 'organization/' or "
            "'enterprise/' prefix to target a single runner group."
        )
        if len(parts) > 2 or (
            len(parts) == 2 and parts[0] not in ("org", "organization", "ent", "enterprise")
        ):
            self.error(prefix_hint, group)
        elif len(parts) == 2 and not parts[1]:
            self.error(f"Invalid runs-on group name '{group.value}'.", group)

    def container(self, container: Token | None) -> None:
        if isinstance(container, Map):
            image = container.get("image")
            if not (isinstance(image, Scalar) and image.value):
                self.error("Container image cannot be empty", container)

    def condition(self, token: Token | None, context: tuple[str, ...]) -> None:
        """A bare `if:` (no `${{`) is an expression too; check it with its place's contexts."""
        if not isinstance(token, Scalar) or not isinstance(token.value, str):
            return
        if OPEN in token.value or not token.value.strip():
            return
        allowed = Allowed.of(context)
        problem = check_expression(token.value, allowed)
        if problem:
            hint = f"contexts available here: {', '.join(sorted(allowed.contexts))}"
            self.problems.append(Problem(problem, token.line, token.col, hint))

    def steps(self, steps: Seq) -> None:
        known: set[str] = set()
        for step in steps.items:
            if not isinstance(step, Map):
                continue
            step_id = step.get("id")
            if (
                isinstance(step_id, Scalar)
                and isinstance(step_id.value, str)
                and not _is_expression(step_id)
            ):
                problem = id_problem(step_id.value, known)
                if problem:
                    self.error(problem, step_id)
            self.condition(step.get("if"), STEP_IF)
            uses = step.get("uses")
            if isinstance(uses, Scalar) and isinstance(uses.value, str):
                value = uses.value
                # Odd references without a scheme or a ref (`$/x`) load on GitHub and fail only
                # when the step runs; so they do here.
                suspicious = "@" in value or "://" in value
                if suspicious and not (
                    value.startswith(("./", "docker://", ".\\"))
                    or _is_expression(uses)
                    or USES.fullmatch(value)
                ):
                    self.error(
                        f"Expected format {{org}}/{{repo}}[/path]@ref. Actual '{value}'", uses
                    )

    # -- reusable workflows -------------------------------------------------------------------

    def call(self, job: Map, uses: Scalar, depth: int) -> None:
        if _is_expression(uses) or self.called is None:
            return
        if depth + 1 > self.limits.max_nested_calls:
            self.error(f"Nested reusable workflow depth exceeded {self.limits.max_nested_calls}.")
            return
        text = self.called(str(uses.value))
        if text is None:
            return  # not available here: checked when the job runs
        document = read_tokens(text)
        root = document.root
        problems = document.problems or (
            read_workflow(root, text.splitlines(), self.limits) if root is not None else []
        )
        if problems or not isinstance(root, Map):
            first = problems[0].message if problems else "not a workflow"
            self.error(f"Error from called workflow {uses.value}: {first}", uses)
            return
        self.result_bytes += file_bytes(str(uses.value), root)
        if self.result_bytes > self.limits.max_result_size:
            self.error(f"Error from called workflow {uses.value}: {OVERSIZED}", uses)
            return
        on = root.get("on")
        trigger = on.get("workflow_call") if isinstance(on, Map) else None
        declared = on is not None and (
            trigger is not None
            or (isinstance(on, Scalar) and on.value == "workflow_call")
            or (
                isinstance(on, Seq)
                and any(getattr(t, "value", None) == "workflow_call" for t in on.items)
            )
        )
        if not declared:
            self.error("workflow_call key is not defined in the referenced workflow.", uses)
            return
        spec = trigger if isinstance(trigger, Map) else Map([], 0, 0)
        self.call_values(job.get("with"), spec.get("inputs"), uses, "Input", "input", True)
        secrets = job.get("secrets")
        if not (isinstance(secrets, Scalar) and secrets.value == "inherit"):
            self.call_values(secrets, spec.get("secrets"), uses, "Secret", "secret", False)
        self.permissions(job, root, uses)
        outer, self.inherited = self.inherited, self.granted(job)
        self.workflow(root, depth + 1)
        self.inherited = outer

    def call_values(
        self,
        given: Token | None,
        declared: Token | None,
        uses: Scalar,
        noun: str,
        lower: str,
        typed: bool,
    ) -> None:
        """`with:` / `secrets:` of a call against the called workflow's declarations."""
        specs = {k.text(): v for k, v in declared.pairs} if isinstance(declared, Map) else {}
        values = {k.text(): v for k, v in given.pairs} if isinstance(given, Map) else {}
        for name, spec in specs.items():
            if not isinstance(spec, Map) or name in values:
                continue
            required = spec.get("required")
            if (
                isinstance(required, Scalar)
                and required.value is True
                and spec.get("default") is None
            ):
                self.error(f"{noun} {name} is required, but not provided while calling.", uses)
        for name, value in values.items():
            declaration = specs.get(name)
            if declaration is None:
                self.error(
                    f"Invalid {lower}, {name} is not defined in the referenced workflow.", value
                )
            elif typed and isinstance(declaration, Map) and isinstance(value, Scalar):
                kind = declaration.get("type")
                if _is_expression(value) or not isinstance(kind, Scalar):
                    continue
                ok = {
                    "boolean": isinstance(value.value, bool),
                    "number": isinstance(value.value, int | float)
                    and not isinstance(value.value, bool),
                }.get(str(kind.value), True)
                if not ok:
                    self.error(f"Unexpected value '{value.text()}'", value)

    def permissions(self, job: Map, called: Map, uses: Scalar) -> None:
        """A called workflow may not ask for more than its caller grants."""
        granted = self.granted(job)
        requests: list[tuple[str, Token | None]] = [
            (f"The workflow '{uses.value}'", called.get("permissions"))
        ]
        jobs = called.get("jobs")
        if isinstance(jobs, Map):
            for key, nested in jobs.pairs:
                if isinstance(nested, Map) and nested.get("permissions") is not None:
                    name = nested.get("name")
                    shown = name.text() if isinstance(name, Scalar) else key.text()
                    requests.append((f"The nested job '{shown}'", nested.get("permissions")))
        for who, token in requests:
            if token is None:
                continue
            wanted = permission_levels(token)
            over = [s for s in PERMISSION_SCOPES if RANK[wanted[s]] > RANK[granted[s]]]
            if over:
                asked = ", ".join(f"{s}: {wanted[s]}" for s in over)
                allowed = ", ".join(f"{s}: {granted[s]}" for s in over)
                self.error(
                    f"Error calling workflow '{uses.value}'. {who} is requesting '{asked}', "
                    f"but is only allowed '{allowed}'.",
                    self.job_key.get(id(job), uses),
                )

    def granted(self, job: Map) -> dict[str, str]:
        own = job.get("permissions")
        if own is not None:
            return permission_levels(own)
        if self.workflow_permissions is not None:
            return permission_levels(self.workflow_permissions)
        return dict(self.inherited)

    def finish(self) -> None:
        if self.job_count > self.limits.max_jobs:
            self.error(f"The workflow may not contain more than {self.limits.max_jobs} jobs")
