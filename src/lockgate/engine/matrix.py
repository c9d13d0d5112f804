"""Matrix expansion with include and exclude, as GitHub documents it."""

from __future__ import annotations

import itertools
import math
from typing import Any

from ..workflow.expressions.values import equals, to_string

MAX_JOBS = 256
# Beyond this many raw combinations not even excludes could bring a matrix under MAX_JOBS in
# reasonable time; refused before any combination is built.
MAX_PRODUCT = 100_000


class MatrixError(ValueError):
    pass


def _matches(combination: dict[str, Any], partial: dict[str, Any]) -> bool:
    return all(k in combination and equals(combination[k], v) for k, v in partial.items())


def expand(matrix: dict[str, Any] | None) -> list[dict[str, Any]]:
    """All job combinations; [{}] for no matrix. Sizes are checked before anything is built."""
    if not matrix:
        return [{}]
    if not isinstance(matrix, dict):
        raise MatrixError("matrix must be a mapping")
    include = matrix.get("include") or []
    exclude = matrix.get("exclude") or []
    if not isinstance(include, list) or not isinstance(exclude, list):
        raise MatrixError("matrix include and exclude must be lists of mappings")
    if not all(isinstance(entry, dict) for entry in (*include, *exclude)):
        raise MatrixError("each matrix include and exclude entry must be a mapping")
    axes = {k: v for k, v in matrix.items() if k not in ("include", "exclude")}
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise MatrixError(f"matrix vector {key!r} must be a non-empty list")
    product = math.prod(len(v) for v in axes.values()) if axes else 0
    if product > MAX_PRODUCT:
        raise MatrixError(
            f"matrix expands to {product} combinations before exclude; GitHub allows {MAX_JOBS}"
        )
    originals: list[dict[str, Any]] = []
    for values in itertools.product(*axes.values()) if axes else ():
        combo = dict(zip(axes, values, strict=True))
        if not any(_matches(combo, e) for e in exclude):
            originals.append(combo)
            _check_size(len(originals))
    combos = [dict(c) for c in originals]
    for extra in include:
        # An include extends every original combination whose original values it does not
        # change (values added by earlier includes may change); when it fits none, it is a
        # combination of its own.
        fits = [
            combo
            for combo, original in zip(combos, originals, strict=False)
            if all(k not in original or equals(original[k], v) for k, v in extra.items())
        ]
        for combo in fits:
            combo.update(extra)
        if not fits:
            combos.append(dict(extra))
            _check_size(len(combos))
    return combos


def _check_size(count: int) -> None:
    if count > MAX_JOBS:
        raise MatrixError(f"matrix expands to more than {MAX_JOBS} jobs; GitHub allows {MAX_JOBS}")


def shown(value: Any) -> str:
    """A matrix value as a job's name shows it: an object's values in order, as GitHub does."""
    if isinstance(value, dict):
        return ", ".join(shown(v) for v in value.values())
    return to_string(value)


def label(combination: dict[str, Any]) -> str:
    """What follows a matrix job's name: `build (24.x, ubuntu-latest, bash)`."""
    return ", ".join(shown(v) for v in combination.values())


def value_at(combination: dict[str, Any], key: str) -> Any:
    """The value `--matrix KEY:VALUE` names: KEY, or a path into an object (`os.name`);
    None when the combination has none."""
    if key in combination:
        return combination[key]
    value: Any = combination
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value
