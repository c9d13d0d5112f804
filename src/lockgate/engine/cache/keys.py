"""A job instance's cache key: sha256 over everything that can change what the job does."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ... import __version__

KEY_FORMAT = 1
# Fields of `github` that differ on every run by definition: keying on them would make every
# entry a miss. Everything else a job references through `github.*` is part of its key.
PER_RUN = frozenset({"run_id", "run_number", "run_attempt", "job", "token", "workspace"})
_NAME = r"([A-Za-z_][A-Za-z0-9_-]*)"


def referenced(context: str, text: str) -> set[str] | None:
    """Names of `context` that `text` uses as `context.name`; None when it uses the context as
    a whole (`context[...]`, `toJSON(context)`), which makes every name count."""
    if re.search(rf"\b{context}\s*(\[|\))", text, re.IGNORECASE):
        return None
    return {m.lower() for m in re.findall(rf"\b{context}\.{_NAME}", text, re.IGNORECASE)}


def pick(values: Mapping[str, Any], names: set[str] | None, leave_out: frozenset[str]) -> Any:
    lowered = {k.lower(): v for k, v in values.items() if k.lower() not in leave_out}
    if names is None:
        return lowered
    return {name: lowered.get(name) for name in sorted(names - leave_out)}


@lru_cache(maxsize=32)
def _sealed(pairs: tuple[tuple[str, str], ...]) -> str:
    # scrypt, not sha256: a short secret cannot be recovered from a key by trying guesses fast.
    material = json.dumps(pairs).encode()
    return hashlib.scrypt(material, salt=b"lockgate-job-cache", n=1 << 14, r=8, p=1).hex()


def secrets_digest(secrets: Mapping[str, str], names: set[str] | None) -> str:
    chosen = pick(secrets, names, frozenset())
    if not any(v is not None for v in chosen.values()):
        return ""
    return _sealed(tuple(sorted((k, str(v)) for k, v in chosen.items())))


def job_key(material: Mapping[str, Any]) -> str:
    document = {"lockgate": __version__, "format": KEY_FORMAT, **material}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
