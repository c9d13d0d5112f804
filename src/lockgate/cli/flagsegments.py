"""`lockgate flags segment | segments`: named lists of constraints that flags' strategies
share (`"segments": ["beta-testers"]` in a definition); a change reaches every flag using it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer

from ..common.errors import UserError
from ..flags.service import FlagService
from ..store.flags import FlagRecords
from .options import DbOpt, OutputOpt, RepoOpt, open_store, user


def _service(repo: Path, db: str | None) -> FlagService:
    return FlagService(FlagRecords(open_store(db, repo)))


def segment(
    name: Annotated[str, typer.Argument(help="the segment's name")],
    file: Annotated[
        Path | None, typer.Argument(help="JSON: a list of constraints (Unleash's shape)")
    ] = None,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    remove: Annotated[bool, typer.Option("--remove", help="remove the segment")] = False,
    repo: RepoOpt = Path("."),
    db: DbOpt = None,
) -> None:
    """Define (or change) the segment NAME from FILE's constraints, or --remove it.

    Example FILE: [{"contextName": "country", "operator": "IN", "values": ["NO", "SE"]}]
    """
    service = _service(repo, db)
    if remove:
        service.remove_segment(name, user())
        print(f"removed segment {name}")
        return
    if file is None:
        raise UserError("say which file holds the segment's constraints, or --remove it")
    try:
        constraints = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {file}: {exc}", where=str(file)) from None
    found = service.define_segment(name, description, constraints, user())
    count = len(found.constraints)
    print(f"segment {found.name} (id {found.id}): {count} constraint{'s' * (count != 1)}")


def segments(
    repo: RepoOpt = Path("."),
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """The segments, with their ids and constraints."""
    found = _service(repo, db).records.segments()
    if output == "json":
        print(json.dumps([dataclasses.asdict(s) for s in found], indent=2))
        return
    if not found:
        print("no segments")
    for one in found:
        print(f"{one.name} (id {one.id}): {'; '.join(_said(c) for c in one.constraints)}")


def _said(constraint: dict[str, object]) -> str:
    values = constraint.get("values") or [constraint.get("value", "")]
    shown = ", ".join(str(v) for v in values)  # type: ignore[attr-defined]
    return f"{constraint['contextName']} {constraint['operator']} {shown}"
