"""Build a bundle from an application directory and keep it content-addressed.

Layout under .lockgate/bundles/: `<digest>.tar.gz` (the bundle) and `<digest>.provenance.json`
(its signed provenance). A digest is the sha256 of the bundle's bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..common.archive import pack
from ..common.errors import UserError
from .manifest import AppManifest, load_manifest

SKIPPED = {".git", "__pycache__", ".lockgate", ".venv", "node_modules"}
DIGEST = re.compile(r"^(sha256:)?([0-9a-f]{12,64})$")


@dataclass(frozen=True)
class Bundle:
    digest: str  # 64 hex characters
    path: Path
    manifest: AppManifest

    @property
    def provenance_path(self) -> Path:
        return self.path.with_name(f"{self.digest}.provenance.json")


def bundle_files(directory: Path) -> list[str]:
    """Every file and symlink to bundle. A link is kept as a link when it points inside the
    application (relatively); one that leaves it, dangles or loops is refused by name."""
    names = []
    top = directory.resolve()
    for root, dirs, files in os.walk(directory):
        links = [d for d in dirs if (Path(root) / d).is_symlink()]
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED and d not in links)
        for name in [*files, *links]:
            path = Path(root) / name
            relative = path.relative_to(directory).as_posix()
            if path.is_symlink():
                _check_link(path, relative, top)
            if not name.endswith(".pyc"):
                names.append(relative)
    return sorted(names)


def _check_link(path: Path, relative: str, top: Path) -> None:
    target = os.readlink(path)
    hint = "make it a relative link to a file inside the application, or copy the file in"
    if os.path.isabs(target):
        raise UserError(f"{relative} links to the absolute path {target}", hint=hint)
    try:
        resolved = path.resolve(strict=True)
    except FileNotFoundError:
        raise UserError(f"{relative} links to {target}, which does not exist", hint=hint) from None
    except (RuntimeError, OSError):
        raise UserError(f"{relative} is part of a symbolic link loop", hint=hint) from None
    if not resolved.is_relative_to(top):
        raise UserError(f"{relative} links to {target}, outside the application", hint=hint)


def build(directory: Path, store_dir: Path) -> Bundle:
    """Pack `directory` reproducibly and store it; the same input gives the same digest."""
    manifest = load_manifest(directory)
    data = pack(directory, bundle_files(directory))
    digest = hashlib.sha256(data).hexdigest()
    target = store_dir / f"{digest}.tar.gz"
    if not target.exists():
        store_dir.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{uuid.uuid4().hex}")
        temp.write_bytes(data)
        os.replace(temp, target)
    return Bundle(digest, target, manifest)


def find(store_dir: Path, reference: str) -> Path:
    """The stored bundle a digest (or a unique prefix of at least 12 characters) names."""
    found = DIGEST.match(reference.strip().lower())
    if not found:
        raise UserError(
            f"{reference!r} is not a bundle digest",
            hint="give the sha256 `lockgate artifact build` printed (12 or more hex characters)",
        )
    prefix = found.group(2)
    matches = sorted(store_dir.glob(f"{prefix}*.tar.gz")) if store_dir.is_dir() else []
    if len(matches) != 1:
        why = "no stored bundle" if not matches else f"{len(matches)} stored bundles"
        raise UserError(
            f"{why} with digest {prefix}",
            where=str(store_dir),
            hint="build it with `lockgate artifact build DIR`, or give more of the digest",
        )
    return matches[0]


def stored(store_dir: Path, limit: int = 20) -> list[tuple[str, float]]:
    """(digest, when it was stored) of the newest stored bundles, newest first."""
    found = []
    for path in store_dir.glob("*.tar.gz") if store_dir.is_dir() else []:
        digest = path.name.removesuffix(".tar.gz")
        if DIGEST.match(digest) and not path.is_symlink():
            found.append((digest, path.stat().st_mtime))
    return sorted(found, key=lambda item: -item[1])[:limit]


def digest_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
