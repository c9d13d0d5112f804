"""A wheel of the running lockgate, for installing the same code on SSH hosts.

Made from the package's own files (an editable install has no wheel to copy), with the files'
digest in its local version, so a host runs exactly the code the controller runs. Hosts
install it without dependencies: they only run lockgate.hostside (standard library only).
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

import lockgate

from ...common.userdirs import cache_dir


def _files(package: Path) -> list[Path]:
    return sorted(
        p
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    )


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def lockgate_wheel() -> Path:
    """The wheel (built once per content into the tool cache)."""
    package = Path(lockgate.__file__).parent
    files = _files(package)
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    version = f"{lockgate.__version__}+{digest.hexdigest()[:12]}"
    wheel = cache_dir("wheels") / f"lockgate-{version}-py3-none-any.whl"
    if wheel.exists():
        return wheel
    info = f"lockgate-{version}.dist-info"
    entries = {f"lockgate/{p.relative_to(package).as_posix()}": p.read_bytes() for p in files}
    metadata = f"Metadata-Version: 2.1\nName: lockgate\nVersion: {version}\n"
    entries[f"{info}/METADATA"] = metadata.encode()
    entries[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: lockgate\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [f"{name},{_hash(data)},{len(data)}" for name, data in entries.items()]
    entries[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    handle, temp = tempfile.mkstemp(dir=wheel.parent, prefix=f".{wheel.name}.")  # one per maker
    with os.fdopen(handle, "wb") as out, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    os.replace(temp, wheel)
    return wheel
