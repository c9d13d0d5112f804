"""Does an event trigger a workflow? Branch, tag and path filters as GitHub applies them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..workflow.schema import RefFilter, Workflow
from .globs import filter_match


@dataclass(frozen=True)
class Event:
    name: str
    ref: str  # refs/heads/x or refs/tags/y
    changed_files: Sequence[str]
    action: str | None = None  # pull_request activity type


PULL_REQUEST_DEFAULT_TYPES = ("opened", "synchronize", "reopened")


def triggered(workflow: Workflow, event: Event) -> tuple[bool, str]:
    """(triggers?, why not) for this workflow and event."""
    config = getattr(workflow.on, event.name, None)
    extra = workflow.on.model_extra or {}
    if config is None and event.name not in extra:
        listed = [*workflow.on.model_fields_set, *extra]
        return False, f"not triggered by {event.name} (on: {', '.join(listed) or 'nothing'})"
    if isinstance(config, RefFilter):
        return _ref_filter(config, event)
    return True, ""


def _ref_filter(f: RefFilter, event: Event) -> tuple[bool, str]:
    if event.name.startswith("pull_request") and f.types is not None:
        action = event.action or "opened"
        if action not in f.types:
            return False, f"activity type {action!r} not in types"
    is_tag = event.ref.startswith("refs/tags/")
    name = event.ref.removeprefix("refs/tags/" if is_tag else "refs/heads/")
    has_ref_filters = any(
        x is not None for x in (f.branches, f.branches_ignore, f.tags, f.tags_ignore)
    )
    if has_ref_filters:
        include, ignore = (f.tags, f.tags_ignore) if is_tag else (f.branches, f.branches_ignore)
        if include is None and ignore is None:
            return False, f"{'tag' if is_tag else 'branch'} {name!r} not selected by filters"
        if include is not None and not filter_match(name, include):
            return False, f"{name!r} does not match {list(include)}"
        if ignore is not None and filter_match(name, ignore):
            return False, f"{name!r} is ignored by {list(ignore)}"
    if f.paths is not None or f.paths_ignore is not None:
        if is_tag:
            return True, ""
        if not _paths_match(event.changed_files, f.paths, f.paths_ignore):
            return False, "no changed file matches the paths filter"
    return True, ""


def _paths_match(
    files: Sequence[str], paths: Sequence[str] | None, ignore: Sequence[str] | None
) -> bool:
    for file in files:
        if paths is not None and not filter_match(file, paths):
            continue
        if ignore is not None and filter_match(file, ignore):
            continue
        return True
    return False
