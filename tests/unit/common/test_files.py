"""Private directories and files: made 0700/0600 whatever the umask, refused when others can
write them (real files)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.common.errors import UserError
from lockgate.common.files import private_directory
from lockgate.store import Store

from ...conftest import lockgate


@pytest.fixture
def loose_umask() -> Iterator[None]:
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_home_and_store_are_private_whatever_the_umask(
    tmp_path: Path, loose_umask: None
) -> None:
    home = tmp_path / "a" / "home"
    private_directory(home, "--home")
    assert mode(home) == 0o700
    private_directory(home, "--home")  # ours and closed: accepted again
    Store(f"sqlite:///{home / 'lockgate.db'}")
    assert mode(home / "lockgate.db") == 0o600
    assert all(mode(p) == 0o600 for p in home.glob("lockgate.db*"))


def test_a_home_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(UserError, match="can be written by others"):
        private_directory(shared, "--home")
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="is not a directory"):
        private_directory(tmp_path / "file", "--home")
    refused = lockgate("serve", "--home", str(shared), "--port", "9", cwd=tmp_path)
    assert refused.returncode == 2 and "chmod go-w" in refused.stderr, refused.stderr
