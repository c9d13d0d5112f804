"""Reproducible tar.gz archives, and unpacking that cannot write outside its destination.

Packing: entries are sorted, with no owners or times and normalised modes; gzip carries no
timestamp. Used for job cache blobs and for application bundles.

Unpacking (`safe_extract`) checks every member before anything is written: relative paths
without `..`, bounded lengths, sizes and counts, only files, directories and symlinks whose
targets stay inside; then it creates each file through directory descriptors opened with
O_NOFOLLOW, so no link (in the archive or already on disk) is ever followed, whatever the
Python version's tarfile filters do.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import io
import os
import shutil
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


class UnsafeArchive(ValueError):
    """An archive that would write outside its destination, or is too big: nothing written."""


MAX_PATH = 4096
MAX_NAME = 255
MAX_MEMBERS = 200_000
MAX_BYTES = 16 * 1024**3


def under(members: Iterable[tarfile.TarInfo], prefix: str) -> list[tarfile.TarInfo]:
    """The members below `prefix/`, renamed relative to it (for archives of several roots)."""
    found = []
    for member in members:
        if member.name.startswith(prefix + "/"):
            renamed = copy.copy(member)
            renamed.name = member.name.removeprefix(prefix + "/")
            found.append(renamed)
    return found


def unpack(data: bytes, destination: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        safe_extract(tar, destination)


def check_members(members: Iterable[tarfile.TarInfo], max_bytes: int = MAX_BYTES) -> None:
    """Raise UnsafeArchive unless every member is safe to create under any destination."""
    links: set[str] = set()
    directories: set[str] = set()  # every path some member needs to be a directory
    leaves: set[str] = set()  # files and links
    total = 0
    for count, member in enumerate(members, 1):
        if count > MAX_MEMBERS:
            raise UnsafeArchive(f"more than {MAX_MEMBERS} entries")
        name = member.name
        parts = _parts(name)
        prefixes = {"/".join(parts[:i]) for i in range(1, len(parts))}
        path = "/".join(parts)
        if prefixes & leaves or (not member.isdir() and path in directories):
            raise UnsafeArchive(f"{name!r} is both a directory and a file or link")
        directories |= prefixes | ({path} if member.isdir() else set())
        if not member.isdir():
            leaves.add(path)
        if any(p in links for p in ("/".join(parts[:i]) for i in range(1, len(parts)))):
            raise UnsafeArchive(f"{name!r} lies below a symbolic link of the archive")
        if member.issym():
            target = member.linkname
            if not target or target.startswith("/") or "\0" in target:
                raise UnsafeArchive(f"{name!r} links to {target!r}, outside the archive")
            depth = len(parts) - 1
            for piece in target.split("/"):
                depth += -1 if piece == ".." else 0 if piece in ("", ".") else 1
                if depth < 0:
                    raise UnsafeArchive(f"{name!r} links to {target!r}, outside the archive")
            links.add("/".join(parts))
        elif member.isreg():
            total += member.size
            if total > max_bytes:
                raise UnsafeArchive(f"more than {max_bytes} bytes")
        elif not member.isdir():
            kind = "hard link" if member.islnk() else "device, FIFO or other special file"
            raise UnsafeArchive(f"{name!r} is a {kind}, which is never unpacked")


def _parts(name: str) -> list[str]:
    if not name or name.startswith("/") or "\0" in name or len(name.encode()) > MAX_PATH:
        raise UnsafeArchive(f"{name[:80]!r} is not a relative path of bounded length")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." or len(p.encode()) > MAX_NAME for p in parts):
        raise UnsafeArchive(f"{name[:80]!r} leaves its directory or has an overlong name")
    return parts


def safe_extract(
    tar: tarfile.TarFile,
    destination: Path,
    max_bytes: int = MAX_BYTES,
    members: list[tarfile.TarInfo] | None = None,
) -> None:
    """Create `members` (default: all) under destination, after checking every one of them."""
    members = tar.getmembers() if members is None else members
    check_members(members, max_bytes)
    destination.mkdir(parents=True, exist_ok=True)
    root = os.open(destination, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for member in members:
            parts = _parts(member.name)
            parent = _directory(root, parts[:-1])
            try:
                _create(tar, member, parent, parts[-1])
            except OSError as exc:  # e.g. a link where the archive already made a directory
                raise UnsafeArchive(f"{member.name}: cannot be created ({exc.strerror})") from None
            finally:
                os.close(parent)
    finally:
        os.close(root)


def _directory(root: int, parts: list[str]) -> int:
    """An fd for root/parts, made as needed; a symlink on the way is an error (ELOOP)."""
    fd = os.dup(root)
    for part in parts:
        with contextlib.suppress(FileExistsError):
            os.mkdir(part, 0o755, dir_fd=fd)
        try:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        except OSError as exc:
            os.close(fd)
            raise UnsafeArchive(
                f"{'/'.join(parts)}: not a plain directory ({exc.strerror})"
            ) from None
        os.close(fd)
        fd = inner
    return fd


def _create(tar: tarfile.TarFile, member: tarfile.TarInfo, parent: int, name: str) -> None:
    if member.isdir():
        os.close(_directory(parent, [name]))
        return
    with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
        info = os.lstat(name, dir_fd=parent)
        if stat.S_ISLNK(info.st_mode) or member.issym():
            os.unlink(name, dir_fd=parent)
    if member.issym():
        os.symlink(member.linkname, name, dir_fd=parent)
        return
    mode = 0o755 if member.mode & stat.S_IXUSR else 0o644
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    try:
        fd = os.open(name, flags, mode, dir_fd=parent)
    except OSError as exc:
        raise UnsafeArchive(f"{member.name}: cannot be created ({exc.strerror})") from None
    os.fchmod(fd, mode)
    source = tar.extractfile(member)
    with os.fdopen(fd, "wb") as out:
        if source is not None:
            shutil.copyfileobj(source, out, 1 << 20)
