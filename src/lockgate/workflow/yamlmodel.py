"""A YAML file validated by a pydantic model, with errors at file:line:col and a hint.

For lockgate's own files (lockgate.yml, lockgate-app.yaml, environment files); workflow files
have their own, GitHub-specific messages in loader.py.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ..common.errors import UserError
from ..common.yamlsource import load_yaml, position, quick_mapping, value_position
from .loader import plain

M = TypeVar("M", bound=BaseModel)


def load_model(path: Path, display: str, model: type[M], hint: str) -> M:
    quick = quick_mapping(path, display)
    if quick is not None:
        try:
            return model.model_validate(plain(quick))
        except ValidationError:
            pass  # read again, keeping positions, to say where
    tree = load_yaml(path, display)
    if tree is not None and not isinstance(tree, dict):
        raise UserError("expected a mapping of keys to values", where=f"{display}:1:1", hint=hint)
    try:
        return model.model_validate(plain(tree) if tree is not None else {})
    except ValidationError as exc:
        raise model_error(exc, tree, display, model, hint) from None


def model_error(
    exc: ValidationError, tree: Any, display: str, model: type[BaseModel], hint: str
) -> UserError:
    return error_at(first_error(exc), tree, display, model, hint)


def first_error(exc: ValidationError) -> ErrorDetails:
    """The error to report: an unknown key is usually the typo behind the others."""
    return sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]


def error_location(error: ErrorDetails) -> list[str | int]:
    return [p for p in error["loc"] if not isinstance(p, str) or not p.startswith("function-")]


def error_at(
    error: ErrorDetails, tree: Any, display: str, model: type[BaseModel], hint: str
) -> UserError:
    """One validation error as a UserError at its place in `tree`, read from `display`."""
    loc = error_location(error)
    if error["type"] == "extra_forbidden":
        line, col = position(tree, loc)
        allowed = _keys_at(model, loc[:-1])
        return UserError(
            f"unknown key {loc[-1]!r}",
            where=f"{display}:{line}:{col}",
            hint=f"allowed here: {', '.join(allowed)}" if allowed else hint,
        )
    if error["type"] == "missing":
        line, col = position(tree, loc[:-1])
        return UserError(
            f"missing required key {loc[-1]!r}", where=f"{display}:{line}:{col}", hint=hint
        )
    line, col = value_position(tree, loc)
    field = ".".join(str(p) for p in loc) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    return UserError(f"{field}: {message}", where=f"{display}:{line}:{col}", hint=hint)


def _keys_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys the model allows in the mapping at `loc` (empty when that is not a model)."""
    current: Any = model
    skip_key = False
    for part in loc:
        if skip_key:  # the key of a dict[str, Model] or the index of a list[Model]
            skip_key = False
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        fields = {f.alias or name: f for name, f in current.model_fields.items()}
        field = fields.get(str(part))
        if field is None:
            return []
        current, skip_key = _inner_model(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _inner_model(annotation: Any) -> tuple[Any, bool]:
    """(the model a field holds, whether a dict key or list index comes before it)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found, skip = _inner_model(arg)
            if isinstance(found, type) and issubclass(found, BaseModel):
                return found, skip
        return None, False
    if origin in (dict, list):
        inner = typing.get_args(annotation)[-1]
        return _inner_model(inner)[0], True
    return annotation, False
