"""A cache entry: everything a successful job produced that a later run can observe."""

from __future__ import annotations

import gzip
import io
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


MAX_LOG_TEXT = 16 * 1024 * 1024  # a job that prints more than this is not cached


class TooLarge(Exception):
    """A job's logs are too large to keep in the cache (they stay in the store)."""


def encode_logs(lines: Iterable[tuple[int, float, str]]) -> bytes:
    """Logs as gzipped JSON lines, built as they stream in; TooLarge past MAX_LOG_TEXT."""
    buffer = io.BytesIO()
    size = 0
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped:
        for step, offset, line in lines:
            encoded = (json.dumps([step, round(offset, 3), line]) + "\n").encode()
            size += len(encoded)
            if size > MAX_LOG_TEXT:
                raise TooLarge(f"more than {MAX_LOG_TEXT >> 20} MiB of log")
            zipped.write(encoded)
    return buffer.getvalue()


def decode_logs(data: bytes) -> list[tuple[int, float, str]]:
    """The saved lines; TooLarge for an entry past MAX_LOG_TEXT (one saved before the limit,
    or a crafted blob): such an entry is a miss, never a memory blow-up."""
    rows, size = [], 0
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as zipped:
        for raw in zipped:
            size += len(raw)
            if size > MAX_LOG_TEXT:
                raise TooLarge(f"more than {MAX_LOG_TEXT >> 20} MiB of log")
            step, offset, text = json.loads(raw)
            rows.append((int(step), float(offset), str(text)))
    return rows
