"""Matrix expansion with include and exclude, as GitHub documents it."""

from __future__ import annotations

import itertools
from typing import Any

from ..workflow.expressions.values import equals

MAX_JOBS = 256


class MatrixError(ValueError):
    pass


def _matches(combination: dict[str, Any], partial: dict[str, Any]) -> bool:
    return all(k in combination and equals(combination[k], v) for k, v in partial.items())


def expand(matrix: dict[str, Any] | None) -> list[dict[str, Any]]:
    """All job combinations; [{}] for no matrix."""
    if not matrix:
        return [{}]
    if not isinstance(matrix, dict):
        raise MatrixError("matrix must be a mapping")
    include = matrix.get("include") or []
    exclude = matrix.get("exclude") or []
    if not isinstance(include, list) or not isinstance(exclude, list):
        raise MatrixError("matrix include and exclude must be lists of mappings")
    axes = {k: v for k, v in matrix.items() if k not in ("include", "exclude")}
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise MatrixError(f"matrix axis {key!r} must be a non-empty list")
    combos = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    combos = [c for c in combos if not any(_matches(c, e) for e in exclude)] if axes else []
    originals = [dict(c) for c in combos]
    for extra in include:
        if not isinstance(extra, dict):
            raise MatrixError("each matrix include entry must be a mapping")
        # An include extends every original combination it does not overwrite;
        # when it fits none, it becomes a combination of its own.
        added = False
        for combo, original in zip(combos, originals, strict=True):
            if all(k not in original or equals(original[k], v) for k, v in extra.items()):
                combo.update(extra)
                added = True
        if not added:
            combos.append(dict(extra))
    if len(combos) > MAX_JOBS:
        raise MatrixError(f"matrix expands to {len(combos)} jobs; GitHub allows {MAX_JOBS}")
    return combos
