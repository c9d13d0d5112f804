"""`lockgate flags apply FILE`: bring the flags to a flags file (the config repository's
flags.yaml format), or with --dry-run say what that would change, as `lockgate serve` does
for the config repository it follows."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated

import typer

from ..flags.desired import read_flags_file
from ..flags.reconcile import FlagsReconciler
from ..flags.service import FlagService
from ..store.flags import FlagRecords
from ..store.flagsync import FlagSyncRecords
from .options import DbOpt, OutputOpt, RepoOpt, open_store, user


def apply(
    file: Annotated[Path, typer.Argument(help="YAML: segments and flags (see docs/flags.md)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would change")] = False,
    self_heal: Annotated[
        bool, typer.Option("--self-heal", help="also revert changes made by hand since")
    ] = False,
    repo: RepoOpt = Path("."),
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """Create FILE's missing flags and segments and apply each flag's state where FILE changed
    it. A state changed by hand since FILE applied it is drift: kept (and listed) unless
    --self-heal. Exit status 1 when something could not be applied."""
    desired = read_flags_file(file)
    store = open_store(db, repo)
    reconciler = FlagsReconciler(
        FlagService(FlagRecords(store)), FlagSyncRecords(store), f"file:{file.resolve()}"
    )
    revision = hashlib.sha256(file.read_bytes()).hexdigest()[:12]
    done = reconciler.run(desired, f"{file.name}@{revision}", user(), not dry_run, self_heal)
    if output == "json":
        print(json.dumps({"actions": done.actions, "problems": done.problems,
                          "drift": [vars(d) for d in done.drift]}, indent=2))  # fmt: skip
    else:
        for line in done.actions or ["no changes: the flags match the file"]:
            print(line)
        for drift in done.drift:
            print(f"drift: {drift.flag} in {drift.environment}: {drift.detail}")
        for problem in done.problems:
            print(f"problem: {problem}")
    if done.problems:
        raise typer.Exit(1)
