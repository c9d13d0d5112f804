"""Options every command group shares, defined once so they read and behave alike."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ..deploy.service import DeployService
from ..store import Store
from ..store.database import default_url
from ..store.deployments import DeploymentRecords

OutputOpt = Annotated[str, typer.Option("--output", "-o", help="plain | json")]
DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="SQLAlchemy URL (default: LOCKGATE_DB, else .lockgate/lockgate.db)"),
]
RepoOpt = Annotated[Path, typer.Option("-C", "--repo", help="repository root (default: cwd)")]


def open_store(db: str | None, repo: Path) -> Store:
    """The store a command reads: --db, else LOCKGATE_DB, else the repository's own."""
    return Store(db or default_url(repo.resolve()))


def deploy_service(repo: Path, db: str | None) -> DeployService:
    """The deploy service of the repository, on the store `open_store` picks."""
    return DeployService(repo, DeploymentRecords(open_store(db, repo)))


def user() -> str:
    """Who the command acts for, as records and audits name them."""
    return os.environ.get("USER", "lockgate")
