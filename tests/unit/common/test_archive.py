"""Archives are checked member by member and created without following links: nothing is ever
written outside the destination, whatever the archive or the disk already holds."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from lockgate.artifacts.bundles import bundle_files
from lockgate.common.archive import UnsafeArchive, pack, safe_extract, unpack
from lockgate.common.errors import UserError


def _tar(*members: tuple[str, bytes | None, str, str]) -> bytes:
    """(name, data, type, linkname): type 'f' file, 'd' dir, 's' symlink, 'h' hard link, 'c' char
    device, 'p' fifo."""
    kinds = {
        "f": tarfile.REGTYPE,
        "d": tarfile.DIRTYPE,
        "s": tarfile.SYMTYPE,
        "h": tarfile.LNKTYPE,
        "c": tarfile.CHRTYPE,
        "p": tarfile.FIFOTYPE,
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data, kind, link in members:
            info = tarfile.TarInfo(name)
            info.type = kinds[kind]
            info.linkname = link
            info.size = len(data or b"")
            tar.addfile(info, io.BytesIO(data or b""))
    return buffer.getvalue()


HOSTILE = {
    "dot-dot": [("../escape.txt", b"x", "f", "")],
    "absolute": [("/tmp/lockgate-absolute-escape", b"x", "f", "")],
    "absolute link": [("l", None, "s", "/etc"), ("l/passwd", b"x", "f", "")],
    "escaping link": [("a/l", None, "s", "../../.."), ("ok", b"x", "f", "")],
    "file below a link": [("l", None, "s", "sub"), ("sub", None, "d", ""), ("l/x", b"x", "f", "")],
    "hard link": [("h", None, "h", "/etc/passwd")],
    "device": [("dev", None, "c", "")],
    "fifo": [("fifo", None, "p", "")],
    "link chain": [("a", None, "s", "b"), ("b", None, "s", "../out"), ("a/x", b"x", "f", "")],
    "overlong": [("d/" * 3000 + "x", b"x", "f", "")],
    # found by tests/unit/test_fuzz.py: a link where the archive already made a directory
    "directory then link": [("a/a", b"x", "f", ""), ("a", None, "s", "a")],
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_archives_are_refused_before_anything_is_written(tmp_path: Path, name: str) -> None:
    destination = tmp_path / "dest"
    with pytest.raises(UnsafeArchive):
        unpack(_tar(*HOSTILE[name]), destination)
    assert not destination.exists() or not any(destination.iterdir())
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out").exists()


def test_a_link_already_on_disk_is_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    destination = tmp_path / "dest"
    destination.mkdir()
    (destination / "sub").symlink_to(outside)  # left there by someone else
    (destination / "file").symlink_to(outside / "target")
    with pytest.raises(UnsafeArchive):
        unpack(_tar(("sub/x", b"x", "f", "")), destination)
    unpack(_tar(("file", b"replaced", "f", "")), destination)  # the link is replaced, not followed
    assert not (outside / "x").exists() and not (outside / "target").exists()
    assert (destination / "file").read_bytes() == b"replaced"


def test_safe_archives_round_trip_with_links_and_modes(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "bin").mkdir(parents=True)
    (source / "bin" / "run").write_text("#!/bin/sh\n")
    (source / "bin" / "run").chmod(0o755)
    (source / "data.txt").write_text("d")
    (source / "alias").symlink_to("data.txt")
    data = pack(source, ["bin/run", "data.txt", "alias"])
    destination = tmp_path / "dest"
    unpack(data, destination)
    assert (destination / "alias").is_symlink() and (destination / "alias").read_text() == "d"
    assert (destination / "bin" / "run").stat().st_mode & 0o111
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        safe_extract(tar, tmp_path / "again")


def test_bundles_keep_inner_links_and_refuse_the_others(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "lib").mkdir(parents=True)
    (app / "lib" / "real.txt").write_text("r")
    (app / "inner").symlink_to("lib/real.txt")
    (app / "libdir").symlink_to("lib")
    assert {"inner", "libdir", "lib/real.txt"} <= set(bundle_files(app))
    for name, target in [("out", "../../etc"), ("abs", "/etc/passwd"), ("gone", "missing")]:
        (app / name).symlink_to(target)
        with pytest.raises(UserError, match=name):
            bundle_files(app)
        (app / name).unlink()
    (app / "loop1").symlink_to("loop2")
    (app / "loop2").symlink_to("loop1")
    with pytest.raises(UserError, match="loop"):
        bundle_files(app)


def test_every_example_app_bundles() -> None:
    examples = Path(__file__).resolve().parents[3] / "examples"
    apps = [p.parent for p in examples.glob("*/lockgate-app.yaml")]
    assert len(apps) >= 2
    for app in apps:
        assert "app.py" in bundle_files(app)
