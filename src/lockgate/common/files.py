"""Copies of directory trees, files replaced whole, and private directories and files."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path

from .errors import UserError


def copy_tree(source: Path, target: Path) -> None:
    """`source` copied into `target`, symlinks kept as symlinks (jobs must not see each other's
    writes, and a link must not be followed out of the tree)."""
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)


def replace_whole(path: Path, text: str) -> None:
    """Write `path` whole, by rename: a reader sees the old text or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    temp.write_text(text)
    temp.replace(path)


def private_directory(path: Path, what: str) -> None:
    """`path` made (0700, whatever the umask) or checked: a directory of this user that no one
    else can write, since what is in it (secrets, the store) is trusted. UserError if not."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)
        path.chmod(0o700)  # mkdir's mode is masked by the umask
        return
    found = path.lstat()
    if not stat.S_ISDIR(found.st_mode):
        raise UserError(f"{path} is not a directory", where=what)
    if found.st_uid != os.geteuid():
        raise UserError(f"{path} belongs to another user (uid {found.st_uid})", where=what,
                        hint="use a directory of your own")  # fmt: skip
    if found.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UserError(
            f"{path} can be written by others (mode {stat.S_IMODE(found.st_mode):04o}): they "
            "could replace its secrets or its store",
            where=what,
            hint=f"chmod go-w {path} (lockgate makes new ones 0700)",
        )


def private_file(path: Path) -> None:
    """Create `path` empty and 0600 unless it exists (so what is written later is private)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
