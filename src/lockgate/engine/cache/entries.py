"""A cache entry: everything a successful job produced that a later run can observe."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .storage import sha256

FORMAT = 1


@dataclass
class Entry:
    key: str
    job_id: str
    workflow: str
    source_run: int
    created: float
    duration: float
    outputs: dict[str, str]
    summary: str
    steps: list[dict[str, Any]]  # number, name, status, outcome, conclusion, duration, outputs
    annotations: list[dict[str, Any]]  # step, level, message, file, line, col, title
    logs: str  # blob: JSON lines [step, seconds after the job started, text]
    paths: str | None = None  # blob: tar of the declared output paths
    artifacts: list[dict[str, Any]] = field(default_factory=list)  # name, blob, size
    size: int = 0  # bytes of every blob it names

    def blobs(self) -> list[str]:
        named = [self.logs, *(a["blob"] for a in self.artifacts)]
        return named + ([self.paths] if self.paths else [])

    def encode(self) -> bytes:
        body = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return json.dumps(
            {"format": FORMAT, "digest": sha256(body.encode()), "body": body}
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> Entry:
        """The entry, or ValueError when it is not a whole, intact entry of this format."""
        try:
            wrapper = json.loads(data)
            body = wrapper["body"]
            if wrapper.get("format") != FORMAT or sha256(body.encode()) != wrapper["digest"]:
                raise ValueError("digest mismatch or another format")
            return cls(**json.loads(body))
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"unreadable entry: {exc}") from None


def blobs_named(data: bytes) -> list[str]:
    try:
        return Entry.decode(data).blobs()
    except ValueError:
        return []


def encode_logs(lines: Iterable[tuple[int, float, str]]) -> bytes:
    text = "".join(
        json.dumps([step, round(offset, 3), line]) + "\n" for step, offset, line in lines
    )
    return gzip.compress(text.encode(), mtime=0)


def decode_logs(data: bytes) -> list[tuple[int, float, str]]:
    rows = [json.loads(line) for line in gzip.decompress(data).decode().splitlines()]
    return [(int(step), float(offset), str(text)) for step, offset, text in rows]
