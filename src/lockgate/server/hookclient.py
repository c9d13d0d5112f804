"""Run by a bare repository's post-receive hook: each pushed ref (`old new ref` on stdin) is
sent to the server, which queues a run for it. Standard library only, so a push never waits on
more than one small request per ref; a server that is down is reported, and the push stands.

Usage (written by `lockgate hook install`):
    python -m lockgate.server.hookclient SERVER_URL REPOSITORY TOKEN_FILE
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path


def send(server: str, repository: str, token: str, line: str) -> str:
    before, after, ref = line.split()
    request = urllib.request.Request(
        f"{server.rstrip('/')}/api/v1/hooks/git",
        data=json.dumps(
            {"repository": repository, "ref": ref, "before": before, "after": after}
        ).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            said = json.loads(answer.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"lockgate: {ref} not queued: {exc}"
    return f"lockgate: {ref} " + (f"queued (#{said['id']})" if said.get("queued") else "ignored")


def main(argv: list[str]) -> int:
    server, repository, token_file = argv
    token = Path(token_file).read_text().strip()
    for line in sys.stdin:
        if line.strip():
            print(send(server, repository, token, line), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
