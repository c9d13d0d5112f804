"""Run by a bare repository's post-receive hook: each pushed ref (`old new ref` on stdin) is
sent to the server, which queues a run for it. Standard library only, so a push never waits on
more than one small request per ref.

A push the server cannot take now (it is down, or answers 5xx) is spooled in the repository
(`lockgate-spool/`, one file a ref) and sent, oldest first, by the next push's hook or by the
server when it starts; the server queues each delivery once, however often it is sent. The
pusher is the account that pushed (gitolite's GL_USER, Gitea's GITEA_PUSHER_NAME, else the
user running the hook).

Usage (written by `lockgate hook install`):
    python -m lockgate.server.hookclient SERVER_URL REPOSITORY TOKEN_FILE
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

SPOOL = "lockgate-spool"


class Later(Exception):
    """The server cannot take it now: spool it."""


def pusher() -> str:
    for name in ("GL_USER", "GITEA_PUSHER_NAME", "USER", "LOGNAME"):
        if os.environ.get(name):
            return os.environ[name][:255]
    return "lockgate"


def push_of(repository: str, line: str) -> dict[str, object]:
    before, after, ref = line.split()
    return {"repository": repository, "ref": ref, "before": before, "after": after,
            "pusher": pusher()}  # fmt: skip


def send(server: str, token: str, push: dict[str, object]) -> str:
    """What the server said of `push`; Later when it cannot take it now."""
    request = urllib.request.Request(
        f"{server.rstrip('/')}/api/v1/hooks/git",
        data=json.dumps(push).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            said = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        if exc.code >= 500:
            raise Later(f"the server answered {exc.code}") from None
        detail = exc.read().decode(errors="replace")[:300]
        return f"not queued: the server answered {exc.code}: {detail}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise Later(str(getattr(exc, "reason", exc))) from None
    return f"queued (#{said['id']})" if said.get("queued") else "ignored"


def spool(where: Path, push: dict[str, object]) -> None:
    where.mkdir(mode=0o700, exist_ok=True)
    name = f"{time.time_ns()}-{str(push['after'])[:12]}.json"
    partial = where / f".{name}"
    partial.write_text(json.dumps(push))
    partial.replace(where / name)  # whole, or not there


def deliver_spooled(server: str, token: str, where: Path) -> list[str]:
    """Send what earlier pushes spooled, oldest first; stop at the first the server cannot
    take (it stays, and so does everything after it)."""
    said = []
    for path in sorted(where.glob("*.json")) if where.is_dir() else []:
        try:
            push = json.loads(path.read_text())
        except (OSError, ValueError):
            path.unlink(missing_ok=True)  # unreadable: never deliverable
            continue
        try:
            result = send(server, token, push)
        except Later:
            break
        said.append(f"lockgate: {push['ref']} (spooled) {result}")
        path.unlink(missing_ok=True)
    return said


def main(argv: list[str]) -> int:
    server, repository, token_file = argv
    token = Path(token_file).read_text().strip()
    where = Path(os.environ.get("GIT_DIR", ".")).resolve() / SPOOL
    for line in deliver_spooled(server, token, where):
        print(line, file=sys.stderr)
    for line in sys.stdin:
        if not line.strip():
            continue
        push = push_of(repository, line)
        waiting = where.is_dir() and any(where.glob("*.json"))
        try:
            if waiting:  # behind what is spooled: keep the order
                raise Later("earlier pushes are still spooled")
            said = send(server, token, push)
        except Later as exc:
            spool(where, push)
            said = f"not queued now ({exc}): spooled, sent by the next push or the server's start"
        print(f"lockgate: {push['ref']} {said}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
