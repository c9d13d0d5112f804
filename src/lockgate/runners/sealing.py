"""The secrets a job on another machine uses are kept, while it is queued and running, only
sealed (Fernet: AES-CBC and HMAC) with a key in the server's home; the worker API opens them
for the worker that claims the job, and they are dropped when it ends."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE = "worker-secrets.key"


def key_file(home: Path) -> Path:
    """The home's sealing key, made 0600 on first use."""
    path = home / KEY_FILE
    if not path.exists():
        partial = path.with_name(KEY_FILE + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(Fernet.generate_key())
        os.replace(partial, path)
    return path


def seal(key: Path, secrets: dict[str, str]) -> bytes:
    return Fernet(key.read_bytes()).encrypt(json.dumps(secrets).encode())


def unseal(key: Path, sealed: bytes) -> dict[str, str]:
    """The secrets; {} when they were sealed with another key (the home's key was replaced)."""
    try:
        opened = json.loads(Fernet(key.read_bytes()).decrypt(sealed))
    except (InvalidToken, ValueError):
        return {}
    return {str(k): str(v) for k, v in opened.items()}
