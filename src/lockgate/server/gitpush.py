"""What a bare repository's post-receive hook sends (lockgate.server.hookclient): one pushed
ref and who pushed it; and what it spooled while the server was down, which the server
queues when it starts (each delivery once: a push sent again is recognised)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from ..store.queue import Trigger
from .hookclient import SPOOL
from .worker import REF, SOURCE

HOOKED = "hooked-repositories"  # in the server's home: the bare repositories hooked to it


class GitPush(BaseModel):
    """What a post-receive hook sends: one pushed ref, and who pushed it."""

    repository: str = Field(pattern=SOURCE.pattern)
    ref: str = Field(pattern=f"^{REF}$")
    before: str = Field(pattern=r"^[0-9a-f]{40,64}$")
    after: str = Field(pattern=r"^[0-9a-f]{40,64}$")
    pusher: str | None = Field(None, min_length=1, max_length=255)

    def trigger(self) -> Trigger | None:
        """The push as GitHub would describe it (`ref`, `before`, `after`, `pusher`); None for
        a deleted ref. One delivery per ref update: sent twice, it is queued once."""
        if set(self.after) == {"0"}:
            return None
        payload: dict[str, Any] = {"ref": self.ref, "before": self.before, "after": self.after,
                                   "repository": {"clone_url": self.repository}}  # fmt: skip
        if self.pusher:
            payload["pusher"] = {"name": self.pusher}
        delivery = f"git:{self.repository}:{self.ref}:{self.before}:{self.after}"
        return Trigger("git", delivery, "push", self.repository, self.ref, self.after,
                       self.before, payload)  # fmt: skip


def remember_hooked(home: Path, bare: Path) -> None:
    """Note `bare` as hooked to the server of `home`, whose start delivers its spool."""
    listed = home / HOOKED
    known = set(listed.read_text().split("\n")) if listed.is_file() else set()
    if str(bare) not in known:
        with listed.open("a") as out:
            out.write(f"{bare}\n")


def spooled(home: Path) -> Iterator[tuple[Path, GitPush | None]]:
    """Each spooled push of each hooked repository, oldest first (None: unreadable)."""
    listed = home / HOOKED
    for line in listed.read_text().splitlines() if listed.is_file() else []:
        where = Path(line) / SPOOL
        for path in sorted(where.glob("*.json")) if where.is_dir() else []:
            try:
                yield path, GitPush.model_validate(json.loads(path.read_text()))
            except (OSError, ValueError, ValidationError):
                yield path, None
