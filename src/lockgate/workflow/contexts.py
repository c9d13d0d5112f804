"""Which contexts and functions GitHub allows at each place of a workflow."""

from __future__ import annotations

from collections.abc import Sequence

STATUS_FUNCTIONS = {"success": (0, 0), "failure": (0, 0), "cancelled": (0, 0), "always": (0, 0)}
HASH_FILES = {"hashfiles": (1, 255)}

_JOB = frozenset({"github", "needs", "strategy", "matrix", "vars", "inputs"})
_STEP = _JOB | {"job", "runner", "env", "secrets", "steps"}

Allowed = tuple[frozenset[str], dict[str, tuple[int, int]]]


def _job_level(key: str, rest: Sequence[str | int]) -> Allowed | None:
    none: dict[str, tuple[int, int]] = {}
    if key == "if":
        return frozenset({"github", "needs", "vars", "inputs"}), STATUS_FUNCTIONS
    if key == "strategy":
        return frozenset({"github", "needs", "vars", "inputs"}), none
    if key in ("env",):
        return _JOB | {"secrets"}, none
    if key == "outputs":
        return _STEP, none
    if key in ("container", "services"):
        if "env" in rest or "credentials" in rest:
            return _JOB | {"job", "runner", "env", "secrets"}, none
        return _JOB, none
    if key == "environment":
        return (_STEP - {"secrets"}, none) if "url" in rest else (_JOB, none)
    if key == "defaults":
        return _JOB | {"env"}, none
    if key == "secrets":
        return _JOB | {"secrets"}, none
    if key in ("name", "runs-on", "timeout-minutes", "continue-on-error", "concurrency", "with"):
        return _JOB, none
    return None


def allowed_for(path: Sequence[str | int]) -> Allowed | None:
    """Allowed (contexts, extra functions) for the value at `path`; None where no expressions."""
    none: dict[str, tuple[int, int]] = {}
    if not path:
        return None
    head = path[0]
    if head == "run-name" or head == "concurrency":
        return frozenset({"github", "inputs", "vars"}), none
    if head == "env":
        return frozenset({"github", "secrets", "inputs", "vars"}), none
    if head == "on":
        if "outputs" in path:
            return frozenset({"github", "jobs", "vars", "inputs"}), none
        if "default" in path:
            return frozenset({"github", "inputs", "vars"}), none
        return None
    if head != "jobs" or len(path) < 3:
        return None
    key, rest = str(path[2]), path[3:]
    if key == "steps":
        if len(rest) >= 2 and rest[1] == "if":
            return _STEP - {"secrets"}, {**STATUS_FUNCTIONS, **HASH_FILES}
        return _STEP, HASH_FILES
    return _job_level(key, rest)
