"""`lockgate queue add | list | remove`: changes waiting in the merge queue of a server's bare
repositories (the server tests each as merged and moves the protected branch)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..common.errors import UserError
from ..store.mergequeue import ACTIVE, MergeQueueRecords
from .options import DbOpt, open_store, user

app = typer.Typer(help="The merge queue of `lockgate serve`.", no_args_is_help=True)
HomeOpt = Annotated[Path, typer.Option("--home", help="the server's home")]


@app.command("add")
def add(
    branch: Annotated[str, typer.Argument(help="the change: a branch pushed to the repository")],
    repository: Annotated[str, typer.Option("--repository", help="the bare repository's path")],
    target: Annotated[str, typer.Option("--target", help="the protected branch")] = "main",
    home: HomeOpt = Path("lockgate-server"),
    db: DbOpt = None,
) -> None:
    """Queue BRANCH: the server tests it merged onto TARGET and the changes ahead of it, and
    moves TARGET to that merge commit once it passed.

    Example: lockgate queue add feature/login --repository /srv/git/app.git --target main
    """
    from ..server.mergequeue import add_change  # the server's modules load only here

    entry = add_change(open_store(db, home.resolve()), repository, branch, target, user())
    print(f"queued {entry.branch} for {entry.target} as #{entry.id}")


@app.command("list")
def listed(home: HomeOpt = Path("lockgate-server"), db: DbOpt = None) -> None:
    """The queue: changes waiting, under test, merged or failed, newest first."""
    for entry in MergeQueueRecords(open_store(db, home.resolve())).listed():
        why = f"\t{entry.reason}" if entry.reason else ""
        change = f"#{entry.pull} ({entry.branch})" if entry.pull else entry.branch
        print(f"#{entry.id}\t{entry.state.value}\t{change} -> {entry.target}{why}")


@app.command("remove")
def remove(
    entry_id: Annotated[int, typer.Argument(help="the change's number (#N)")],
    home: HomeOpt = Path("lockgate-server"),
    db: DbOpt = None,
) -> None:
    """Take a change out of the queue (those behind it are tested again without it)."""
    from ..server.lanes import Lanes  # the server's modules load only here
    from ..server.mergequeue import leave

    store = open_store(db, home.resolve())
    entry = MergeQueueRecords(store).get(entry_id)
    if entry is None or entry.state not in ACTIVE:
        raise UserError(f"no change #{entry_id} is in the queue", hint="lockgate queue list")
    # No forge token here: a pull request is told by the API's or its forge's removal instead.
    leave(Lanes(store, {}, home.resolve(), ""), entry, f"removed by {user()}")
    print(f"removed #{entry_id}")
