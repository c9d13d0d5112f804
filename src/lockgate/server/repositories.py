"""The repositories a server runs: registered by admins (`lockgate repo add`, this API,
`lockgate hook install` for a bare repository), each with a webhook secret of its own if
given. A trigger for any other repository is refused (404) and audited: a server fetches and
runs only what it was told to."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from ..common.errors import UserError
from ..common.names import checked_name
from ..store.queue import Trigger
from ..store.repositories import ForgeKind, Repository, RepositoryRecords
from .auth import Admin, Viewer
from .worker import SOURCE

router = APIRouter(prefix="/api/v1/repositories")
SECRETS = "webhook-secrets"  # in the server's home: one 0600 file a repository


def secret_path(home: Path, repository: Repository) -> Path:
    return home / SECRETS / str(repository.id)


def keep_secret(home: Path, repository: Repository, secret: str) -> None:
    """The repository's webhook secret, in a 0600 file of the server's home (not the store)."""
    folder = home / SECRETS
    folder.mkdir(mode=0o700, exist_ok=True)
    path = secret_path(home, repository)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(secret)


def secret_of(home: Path, repository: Repository | None) -> bytes | None:
    if repository is None or not repository.has_secret:
        return None
    try:
        return secret_path(home, repository).read_bytes().strip()
    except OSError:
        return None


def register(
    records: RepositoryRecords,
    home: Path,
    source: str,
    forge: str,
    actor: str,
    name: str | None = None,
    secret: str | None = None,
) -> Repository:
    """Register `source` (a bare repository's path or a forge URL); UserError if it cannot."""
    if not SOURCE.match(source):
        raise UserError(
            f"{source!r} is not a repository's path or URL",
            hint="an absolute path, or an https://, ssh://, git:// or file:// URL",
        )
    try:
        kind = ForgeKind(forge)
    except ValueError:
        kinds = ", ".join(f.value for f in ForgeKind)
        raise UserError(f"unknown forge {forge!r}", hint=f"one of: {kinds}") from None
    chosen = name or source.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git") or "repository"
    checked_name(chosen, "repository", "--name")
    registered = records.add(chosen, source, kind, actor, has_secret=bool(secret))
    if secret:
        keep_secret(home, registered, secret)
    return registered


def registration_of(records: RepositoryRecords, trigger: Trigger) -> Repository | None:
    """The registration a trigger is for: its repository's, or (a pull request from a fork)
    that of the repository the delivery is about."""
    found = records.matching(trigger.repository)
    about = trigger.payload.get("repository")
    if found is None and isinstance(about, dict):
        clone = about.get("clone_url") or about.get("git_http_url") or ""
        kinds = {f.value for f in ForgeKind}
        forge = ForgeKind(trigger.source) if trigger.source in kinds else None
        full_name = about.get("full_name") or about.get("path_with_namespace")
        found = records.matching(str(clone), forge, str(full_name) if full_name else None)
    return found


class NewRepository(BaseModel):
    source: str = Field(min_length=1, max_length=1024)
    forge: str = "git"
    name: str | None = Field(None, max_length=255)
    secret: str | None = Field(None, min_length=16, max_length=1024)


def _records(request: Request) -> RepositoryRecords:
    return request.app.state.services.repositories  # type: ignore[no-any-return]


def _shown(repository: Repository) -> dict[str, Any]:
    return {**vars(repository), "forge": repository.forge.value}


@router.get("")
def listed(request: Request, _: Viewer) -> list[dict[str, Any]]:
    return [_shown(r) for r in _records(request).all()]


@router.post("", status_code=201)
def add(wanted: NewRepository, request: Request, caller: Admin) -> dict[str, Any]:
    services = request.app.state.services
    try:
        made = register(_records(request), services.home, wanted.source, wanted.forge,
                        caller.name, wanted.name, wanted.secret)  # fmt: skip
    except UserError as exc:
        raise HTTPException(409 if "already" in exc.message else 422, exc.message) from None
    services.access.record(caller.name, "repository added", f"{made.name}: {made.source}")
    return _shown(made)


@router.delete("/{name}")
def remove(name: str, request: Request, caller: Admin) -> dict[str, str]:
    if not _records(request).remove(name):
        raise HTTPException(404, f"no repository named {name!r}")
    request.app.state.services.access.record(caller.name, "repository removed", name)
    return {"removed": name}
