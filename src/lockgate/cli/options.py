"""Options every command group shares, defined once so they read and behave alike."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

OutputOpt = Annotated[str, typer.Option("--output", "-o", help="plain | json")]
DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="SQLAlchemy URL (default: LOCKGATE_DB, else .lockgate/lockgate.db)"),
]
RepoOpt = Annotated[Path, typer.Option("-C", "--repo", help="repository root (default: cwd)")]
