"""A cache entry: everything a successful job produced that a later run can observe."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from ...store.records import Conclusion, Status, conclusion_of
from .storage import sha256

FORMAT = 1


@dataclass(frozen=True)
class SavedStep:
    number: int
    name: str
    status: Status
    outcome: Conclusion | None
    conclusion: Conclusion | None
    duration: float | None
    outputs: dict[str, str]

    @classmethod
    def from_json(cls, saved: dict[str, Any]) -> SavedStep:
        return cls(**{
            **saved,
            "status": Status(saved["status"]),
            "outcome": conclusion_of(saved["outcome"]),
            "conclusion": conclusion_of(saved["conclusion"]),
        })  # fmt: skip


@dataclass(frozen=True)
class SavedAnnotation:
    step: int  # the step's number; 0 for the job itself
    level: str
    message: str
    file: str | None = None
    line: int | None = None
    col: int | None = None
    title: str | None = None


@dataclass(frozen=True)
class SavedArtifact:
    name: str
    blob: str
    size: int


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
    steps: list[SavedStep]
    annotations: list[SavedAnnotation]
    logs: str  # blob: JSON lines [step, seconds after the job started, text]
    paths: str | None = None  # blob: tar of the declared output paths
    artifacts: list[SavedArtifact] = field(default_factory=list)
    size: int = 0  # bytes of every blob it names

    def blobs(self) -> list[str]:
        named = [self.logs, *(a.blob for a in self.artifacts)]
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
            fields: dict[str, Any] = json.loads(body)
            return cls(**{
                **fields,
                "steps": [SavedStep.from_json(s) for s in fields["steps"]],
                "annotations": [SavedAnnotation(**a) for a in fields["annotations"]],
                "artifacts": [SavedArtifact(**a) for a in fields.get("artifacts", [])],
            })  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
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
