"""A cache entry round-trips through its encoding as typed parts, and anything else is refused."""

from __future__ import annotations

import json

import pytest

from lockgate.engine.cache.entries import (
    Entry,
    SavedAnnotation,
    SavedArtifact,
    SavedStep,
)
from lockgate.engine.cache.storage import sha256
from lockgate.store.records import Conclusion, Status


def _entry() -> Entry:
    return Entry(
        key="k", job_id="build", workflow="ci.yml", source_run=3, created=1.0, duration=2.5,
        outputs={"o": "v"}, summary="## done",
        steps=[SavedStep(1, "make", Status.COMPLETED, Conclusion.FAILURE, Conclusion.SUCCESS,
                         2.0, {"x": "1"})],
        annotations=[SavedAnnotation(1, "warning", "careful", "a.py", 3)],
        logs="b" * 64, artifacts=[SavedArtifact("dist", "c" * 64, 10)], size=99,
    )  # fmt: skip


def test_an_entry_round_trips_with_typed_parts() -> None:
    entry = _entry()
    back = Entry.decode(entry.encode())
    assert back == entry
    assert back.steps[0].outcome is Conclusion.FAILURE and back.steps[0].status is Status.COMPLETED
    assert back.blobs() == ["b" * 64, "c" * 64]


def _with_body(body: dict, digest: str | None = None) -> bytes:  # type: ignore[type-arg]
    text = json.dumps(body)
    return json.dumps(
        {"format": 1, "digest": digest or sha256(text.encode()), "body": text}
    ).encode()


def test_a_tampered_or_foreign_entry_is_refused() -> None:
    body = json.loads(json.loads(_entry().encode())["body"])
    assert Entry.decode(_with_body(body)) == _entry()
    with pytest.raises(ValueError, match="unreadable entry"):
        Entry.decode(_with_body(body, digest="0" * 64))  # changed after it was written
    body["steps"][0]["status"] = "exploded"  # intact, but not a status lockgate writes
    with pytest.raises(ValueError, match="unreadable entry"):
        Entry.decode(_with_body(body))
    with pytest.raises(ValueError, match="unreadable entry"):
        Entry.decode(b'{"format": 1}')
