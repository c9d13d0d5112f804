"""The repositories a server runs, as typed records. A trigger names a repository by the URL
or path it is fetched from; `matching` finds its registration whatever the spelling (a
trailing `.git` or `/`, the host's case, `file://` for a path), and a forge's delivery is
matched by its `owner/name` too."""

from __future__ import annotations

import enum
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from ..common.errors import UserError
from . import tables as t
from .database import Store


class ForgeKind(enum.StrEnum):
    GIT = "git"  # a bare repository pushed to, with lockgate's post-receive hook
    GITHUB = "github"
    GITEA = "gitea"
    GITLAB = "gitlab"


@dataclass(frozen=True)
class Repository:
    id: int
    name: str
    source: str  # normalised
    forge: ForgeKind
    full_name: str | None
    has_secret: bool
    created_at: float
    created_by: str


def normalised(source: str) -> str:
    """One spelling of a repository's location: a path resolved, a URL's scheme and host in
    lower case, without a trailing `/` or `.git`."""
    if source.startswith("file://"):
        source = urllib.parse.unquote(source.removeprefix("file://"))
    if source.startswith("/"):
        return str(Path(source).resolve()).removesuffix("/")
    parts = urllib.parse.urlsplit(source)
    if parts.scheme and parts.netloc:
        path = parts.path.rstrip("/").removesuffix(".git")
        return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}"
    host, _, path = source.partition(":")  # git@host:owner/name
    return f"{host.lower()}:{path.rstrip('/').removesuffix('.git')}"


def full_name_of(source: str) -> str | None:
    """owner/name from a forge URL's path (the last two parts)."""
    path = urllib.parse.urlsplit(source).path if "://" in source else source.partition(":")[2]
    parts = [p for p in path.removesuffix(".git").split("/") if p]
    return "/".join(parts[-2:]) if len(parts) >= 2 else None


class RepositoryRecords:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def add(
        self, name: str, source: str, forge: ForgeKind, actor: str, has_secret: bool = False
    ) -> Repository:
        kept = normalised(source)
        full_name = full_name_of(source) if forge != ForgeKind.GIT else None
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(t.repositories).values(
                        name=name,
                        source=kept,
                        forge=forge.value,
                        full_name=full_name,
                        has_secret=has_secret,
                        created_at=time.time(),
                        created_by=actor,
                    )
                )
        except IntegrityError:
            raise UserError(
                f"a repository named {name!r} or at {kept} is registered already",
                hint="`lockgate repo list` shows them; remove one with `lockgate repo remove`",
            ) from None
        found = self.named(name)
        assert found is not None
        return found

    def named(self, name: str) -> Repository | None:
        query = select(t.repositories).where(t.repositories.c.name == name)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _repository(row._mapping) if row else None

    def all(self) -> list[Repository]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.repositories).order_by(t.repositories.c.name))
            return [_repository(r._mapping) for r in rows]

    def remove(self, name: str) -> bool:
        with self.engine.begin() as conn:
            gone = conn.execute(delete(t.repositories).where(t.repositories.c.name == name))
        return bool(gone.rowcount)

    def matching(
        self, source: str, forge: ForgeKind | None = None, full_name: str | None = None
    ) -> Repository | None:
        """The registration of the repository at `source`, or of `forge`'s `full_name` (what
        its deliveries say)."""
        wanted = normalised(source)
        for found in self.all():
            if found.source == wanted:
                return found
            named = found.full_name and full_name and found.full_name.lower() == full_name.lower()
            if named and found.forge == forge:
                return found
        return None


def _repository(row: object) -> Repository:
    values = dict(row)  # type: ignore[call-overload]
    values["forge"] = ForgeKind(values["forge"])
    return Repository(**values)
