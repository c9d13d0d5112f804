"""Options every command group shares, defined once so they read and behave alike."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
