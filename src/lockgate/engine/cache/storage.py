"""Where cache entries live: a local directory and, optionally, a Bazel HTTP remote cache.

Both use Bazel's layout: `ac/<key>` holds an entry (what a job produced), `cas/<sha256>` holds
content named by its own digest. A blob whose content does not match its name is corrupt and
is never used. The remote is best effort: any error or timeout is a miss and a warning, after
which the remote is left alone for the rest of the run.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

KINDS = ("ac", "cas")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Storage(Protocol):
    def get(self, kind: str, name: str) -> bytes | None: ...
    def put(self, kind: str, name: str, data: bytes) -> None: ...


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, kind: str, name: str) -> Path:
        return self.root / kind / name[:2] / name

    def get(self, kind: str, name: str) -> bytes | None:
        path = self.path(kind, name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if kind == "ac":
            os.utime(path)  # least recently used goes first when pruning
        return data

    def put(self, kind: str, name: str, data: bytes) -> None:
        path = self.path(kind, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{name}.{uuid.uuid4().hex}")
        temp.write_bytes(data)
        os.replace(temp, path)

    def discard(self, kind: str, name: str) -> None:
        self.path(kind, name).unlink(missing_ok=True)

    def entries(self) -> list[tuple[str, float, bytes]]:
        """(key, last used, entry bytes) for every entry, most recently used first."""
        found = []
        for path in (self.root / "ac").glob("*/*"):
            if path.name.startswith("."):
                continue
            try:
                found.append((path.name, path.stat().st_mtime, path.read_bytes()))
            except FileNotFoundError:
                continue
        return sorted(found, key=lambda e: e[1], reverse=True)

    def blob_sizes(self) -> dict[str, int]:
        sizes = {}
        for path in (self.root / "cas").glob("*/*"):
            if not path.name.startswith("."):
                sizes[path.name] = path.stat().st_size
        return sizes


class RemoteStorage:
    """The Bazel HTTP remote-cache protocol: GET and PUT under BASE/ac/ and BASE/cas/."""

    def __init__(self, base: str, timeout: float, warn: Callable[[str], None]) -> None:
        import httpx  # only runs that use a remote pay for importing it

        self.base = base.rstrip("/")
        self.client = httpx.Client(timeout=timeout)
        self.errors: tuple[type[BaseException], ...] = (httpx.HTTPError, OSError)
        self.warn = warn
        self.broken = False

    def _failed(self, action: str, detail: Any) -> None:
        self.broken = True
        self.warn(
            f"remote cache {self.base}: {action} failed ({detail}); going on without it "
            "for the rest of this run"
        )

    def get(self, kind: str, name: str) -> bytes | None:
        if self.broken:
            return None
        try:
            response = self.client.get(f"{self.base}/{kind}/{name}")
        except self.errors as exc:
            self._failed("GET", exc)
            return None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            self._failed("GET", f"HTTP {response.status_code}")
            return None
        return response.content

    def put(self, kind: str, name: str, data: bytes) -> None:
        if self.broken:
            return
        try:
            response = self.client.put(f"{self.base}/{kind}/{name}", content=data)
        except self.errors as exc:
            self._failed("PUT", exc)
            return
        if response.status_code not in (200, 201, 204):
            self._failed("PUT", f"HTTP {response.status_code}")


class Layers:
    """Local first, then the remote (whose hits are copied to local). Blobs are verified."""

    def __init__(
        self, local: LocalStorage, remote: Storage | None, warn: Callable[[str], None]
    ) -> None:
        self.local = local
        self.remote = remote
        self.warn = warn

    def get_entry(self, key: str) -> bytes | None:
        data = self.local.get("ac", key)
        if data is None and self.remote is not None:
            data = self.remote.get("ac", key)
            if data is not None:
                self.local.put("ac", key, data)
        return data

    def get_blob(self, digest: str) -> bytes | None:
        data = self.local.get("cas", digest)
        if data is not None and sha256(data) != digest:
            self.warn(f"local cache blob {digest[:12]} is corrupt; discarded")
            self.local.discard("cas", digest)
            data = None
        if data is None and self.remote is not None:
            data = self.remote.get("cas", digest)
            if data is not None and sha256(data) != digest:
                self.warn(f"remote cache blob {digest[:12]} is corrupt; not used")
                return None
            if data is not None:
                self.local.put("cas", digest, data)
        return data

    def put(self, key: str, entry: bytes, blobs: dict[str, bytes]) -> None:
        """Blobs first, the entry last: an entry is never visible before what it names."""
        for digest, data in blobs.items():
            self.local.put("cas", digest, data)
        self.local.put("ac", key, entry)
        if self.remote is not None:
            for digest, data in blobs.items():
                self.remote.put("cas", digest, data)
            self.remote.put("ac", key, entry)

    def forget(self, key: str) -> None:
        self.local.discard("ac", key)


def prune(local: LocalStorage, max_size: int, blobs_of: Callable[[bytes], list[str]]) -> int:
    """Drop least recently used entries until entries plus their blobs fit in `max_size`;
    then delete blobs no entry names. Returns how many entries were dropped."""
    sizes = local.blob_sizes()
    kept: set[str] = set()
    total, dropped = 0, 0
    for key, _, data in local.entries():
        named = [b for b in blobs_of(data) if b in sizes]
        extra = len(data) + sum(sizes[b] for b in named if b not in kept)
        if total + extra > max_size:
            local.discard("ac", key)
            dropped += 1
            continue
        total += extra
        kept.update(named)
    cutoff = time.time() - 60  # a blob written moments ago may belong to an entry being saved
    for digest in sizes:
        path = local.path("cas", digest)
        if digest not in kept and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
    return dropped
