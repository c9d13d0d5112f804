"""`lockgate repo add | list | remove`: the repositories `lockgate serve` runs. A trigger for
any other (a webhook, a push, a manual run) is refused and audited."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ..common.errors import UserError
from ..store.repositories import RepositoryRecords
from .options import DbOpt, open_store, user

app = typer.Typer(help="The repositories `lockgate serve` runs.", no_args_is_help=True)
HomeOpt = Annotated[Path, typer.Option("--home", help="the server's home")]


def records(home: Path, db: str | None) -> RepositoryRecords:
    return RepositoryRecords(open_store(db, home.resolve()))


@app.command("add")
def add(
    source: Annotated[str, typer.Argument(help="a bare repository's path, or a forge URL")],
    forge: Annotated[str, typer.Option("--forge", help="git | github | gitea | gitlab")] = "git",
    name: Annotated[str | None, typer.Option("--name", help="default: from SOURCE")] = None,
    secret_env: Annotated[
        str | None,
        typer.Option("--secret-env", help="a variable holding its own webhook secret"),
    ] = None,
    home: HomeOpt = Path("lockgate-server"),
    db: DbOpt = None,
) -> None:
    """Let the server run SOURCE (with its own webhook secret, if given).

    Example: lockgate repo add https://github.com/acme/shop.git --forge github
    """
    from ..server.repositories import register  # the server's modules load only here

    secret = os.environ.get(secret_env, "") if secret_env else None
    if secret_env and len(secret or "") < 16:
        raise UserError(f"${secret_env} must hold a secret of 16 characters or more",
                        where="--secret-env")  # fmt: skip
    made = register(records(home, db), home.resolve(), source, forge, user(), name, secret)
    print(f"registered {made.name}: {made.source} ({made.forge})")


@app.command("list")
def listed(home: HomeOpt = Path("lockgate-server"), db: DbOpt = None) -> None:
    """The registered repositories."""
    for found in records(home, db).all():
        secret = ", own webhook secret" if found.has_secret else ""
        print(f"{found.name}\t{found.source}\t{found.forge}{secret}")


@app.command("remove")
def remove(
    name: Annotated[str, typer.Argument()],
    home: HomeOpt = Path("lockgate-server"),
    db: DbOpt = None,
) -> None:
    """Stop running NAME: its triggers are refused from now on."""
    if not records(home, db).remove(name):
        raise UserError(f"no repository named {name!r}", hint="lockgate repo list")
    print(f"removed {name}")
