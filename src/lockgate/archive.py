"""Reproducible tar.gz archives: the same files give the same bytes, so the same digest.

Entries are sorted, with no owners or times and normalised modes; gzip carries no timestamp.
Used for job cache blobs and for application bundles.
"""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
from collections.abc import Iterable
from pathlib import Path


def pack(root: Path, names: Iterable[str], dereference: bool = False) -> bytes:
    """`dereference` stores what symlinks point to instead of the links (self-contained)."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
        tarfile.open(
            fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT, dereference=dereference
        ) as tar,
    ):
        for name in sorted(set(names)):
            info = tar.gettarinfo(str(root / name), arcname=name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if info.isreg():
                info.mode = 0o755 if info.mode & stat.S_IXUSR else 0o644
                with (root / name).open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    return buffer.getvalue()


def unpack(data: bytes, destination: Path) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(destination, filter="data")  # refuses absolute paths and `..`
