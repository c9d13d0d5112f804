"""Options every command group shares, defined once so they read and behave alike."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..common.errors import UserError
from ..store import Store
from ..store.database import default_url

OutputOpt = Annotated[str, typer.Option("--output", "-o", help="plain | json")]
DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="SQLAlchemy URL (default: LOCKGATE_DB, else .lockgate/lockgate.db)"),
]
RepoOpt = Annotated[Path, typer.Option("-C", "--repo", help="repository root (default: cwd)")]


def open_store(db: str | None, repo: Path) -> Store:
    """The store a command reads: --db, else LOCKGATE_DB, else the repository's own."""
    return Store(db or default_url(repo.resolve()))


def read_secret_file(path: Path | None) -> dict[str, str]:
    """The NAME=value lines of a `--secret-file` ({} without one); a clear error when it is
    missing or malformed."""
    if path is None:
        return {}
    from ..engine.envfiles import EnvFileError, parse_env_file

    if not path.is_file():
        raise UserError(f"{path} does not exist", where="--secret-file")
    try:
        return parse_env_file(path)
    except EnvFileError as exc:
        raise UserError(str(exc), where=f"--secret-file {path}") from None
