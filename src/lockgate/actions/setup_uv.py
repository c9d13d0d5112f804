"""`astral-sh/setup-uv`: uv from PyPI's `uv` wheels into lockgate's tool cache, first on PATH.

The wheel for this machine is chosen from PyPI's JSON API, its sha256 checked against the
index, and only its `uv` and `uvx` executables are kept.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import time
import tomllib
import urllib.parse
import uuid
import zipfile
from pathlib import Path
from typing import Any

from ..common.userdirs import cache_dir
from .builtin import ActionFailed, BuiltinContext, flag
from .downloads import DownloadFailed, fetch, fetch_json
from .versions import Spec, Version, best

LATEST_TTL = 3600  # seconds a resolved "latest" uv version is trusted
MACHINE = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def index_url() -> str:
    return os.environ.get("LOCKGATE_PYPI_JSON", "https://pypi.org/pypi").rstrip("/")


def _releases() -> tuple[str, dict[str, list[dict[str, Any]]]]:
    url = f"{index_url()}/uv/json"
    try:
        return url, fetch_json(url).get("releases", {})
    except DownloadFailed as exc:
        raise ActionFailed(str(exc)) from None


def wheel_for(files: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The manylinux wheel for this processor (musllinux when there is no manylinux one)."""
    machine = MACHINE.get(platform.machine().lower(), platform.machine())
    wheels = [f for f in files if f["filename"].endswith(".whl") and machine in f["filename"]]
    wheels.sort(key=lambda f: "manylinux" not in f["filename"])
    return wheels[0] if wheels else None


def install(version_spec: str, offline: bool) -> tuple[str, Path]:
    root = cache_dir("uv")
    cached = [v for v in (Version.parse(p.name) for p in root.iterdir()) if v]
    cached = [v for v in cached if (root / str(v) / "uv").is_file()]
    spec = Spec("" if version_spec in ("", "latest") else version_spec.lstrip("="))
    if offline or (version_spec not in ("", "latest") and best([spec], cached)):
        chosen = best([spec], cached)
        if chosen is None:
            raise ActionFailed(
                f"no uv {version_spec or 'latest'} in the tool cache and --offline forbids "
                "downloading one"
            )
        return str(chosen), root / str(chosen)
    latest = root / "latest.json"  # "latest" is asked of PyPI at most once an hour
    if version_spec in ("", "latest") and latest.is_file():
        known = json.loads(latest.read_text())
        fresh = time.time() - float(known["checked"]) < LATEST_TTL
        if fresh and (root / str(known["version"]) / "uv").is_file():
            return str(known["version"]), root / str(known["version"])
    url, releases = _releases()
    versions = [v for v in (Version.parse(k) for k in releases) if v and not v.prerelease]
    chosen = best([spec], versions)
    if chosen is None:
        raise ActionFailed(f"PyPI has no uv release matching {version_spec!r}")
    target = root / str(chosen)
    if not (target / "uv").is_file():
        files = releases.get(str(chosen)) or releases.get(
            f"{chosen.major}.{chosen.minor}.{chosen.patch}", []
        )
        wheel = wheel_for(files)
        if wheel is None:
            raise ActionFailed(f"uv {chosen} has no wheel for {platform.machine()}")
        _unpack(urllib.parse.urljoin(url, wheel["url"]), wheel["digests"]["sha256"], target)
    if version_spec in ("", "latest"):
        partial = latest.with_suffix(f".{uuid.uuid4().hex}")
        partial.write_text(json.dumps({"version": str(chosen), "checked": time.time()}))
        partial.replace(latest)
    return str(chosen), target


def _unpack(url: str, sha256: str, target: Path) -> None:
    with open(f"{target}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "uv").is_file():
            return
        try:
            content = fetch(url)
        except DownloadFailed as exc:
            raise ActionFailed(str(exc)) from None
        if hashlib.sha256(content).hexdigest() != sha256:
            raise ActionFailed(f"{url}: sha256 does not match PyPI's")
        partial = target.with_name(f"{target.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        with zipfile.ZipFile(io.BytesIO(content)) as wheel:
            for member in wheel.namelist():
                name = member.rsplit("/", 1)[-1]
                if ".data/scripts/" in member and name in ("uv", "uvx"):
                    (partial / name).write_bytes(wheel.read(member))
                    (partial / name).chmod(0o755)
        if not (partial / "uv").is_file():
            raise ActionFailed(f"{url} holds no uv executable")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)


def setup_uv(ctx: BuiltinContext) -> None:
    workdir = ctx.workspace / ctx.input("working-directory", ".")
    version, directory = install(wanted_version(ctx, workdir), ctx.offline)
    ctx.paths.append(str(directory))
    ctx.outputs.update(
        {
            "uv-version": version,
            "uv-path": str(directory / "uv"),
            "uvx-path": str(directory / "uvx"),
            "python-cache-hit": "false",
        }
    )
    ctx.log(f"uv {version} from lockgate's tool cache ({directory})")
    python = ctx.input("python-version").strip()
    if python:
        ctx.env["UV_PYTHON"] = python
        ctx.outputs["python-version"] = python
    for name, variable in (("tool-dir", "UV_TOOL_DIR"), ("tool-bin-dir", "UV_TOOL_BIN_DIR")):
        if ctx.input(name).strip():
            ctx.env[variable] = str(ctx.workspace / ctx.input(name).strip())
    if "UV_TOOL_BIN_DIR" in ctx.env:
        ctx.paths.append(ctx.env["UV_TOOL_BIN_DIR"])
    local = ctx.input("cache-local-path").strip()
    store = ctx.workspace / local if local else cache_dir("uv-cache")
    if ctx.input("enable-cache").lower() in ("true", "auto"):
        store.mkdir(parents=True, exist_ok=True)
        ctx.outputs["cache-hit"] = "true" if any(store.iterdir()) else "false"
        ctx.env["UV_CACHE_DIR"] = str(store)
    else:
        ctx.outputs["cache-hit"] = "false"
    if flag(ctx, "activate-environment"):
        activate(ctx, directory / "uv", workdir)


def wanted_version(ctx: BuiltinContext, workdir: Path) -> str:
    """`version`, else the `required-version` of version-file, else of uv.toml or
    pyproject.toml in the working directory (as setup-uv looks), else the latest."""
    given = ctx.input("version").strip()
    if given:
        return given
    named = ctx.input("version-file").strip()
    for name in [named] if named else ["uv.toml", "pyproject.toml"]:
        path = workdir / name
        if not path.is_file():
            if named:
                raise ActionFailed(f"version-file {named!r} is not a file")
            continue
        try:
            data = tomllib.loads(path.read_text(errors="replace"))
        except tomllib.TOMLDecodeError as exc:
            raise ActionFailed(f"{name}: {exc}") from None
        settings = data if path.name == "uv.toml" else data.get("tool", {}).get("uv", {})
        required = settings.get("required-version") if isinstance(settings, dict) else None
        if isinstance(required, str) and required.strip():
            return required.strip()
    return "latest"


def activate(ctx: BuiltinContext, uv: Path, workdir: Path) -> None:
    """`uv venv` (at venv-path, else .venv of the working directory), first on PATH."""
    venv = workdir / (ctx.input("venv-path").strip() or ".venv")
    command = [str(uv), "venv", str(venv)]
    if flag(ctx, "no-project"):
        command.append("--no-project")
    if ctx.offline:
        command.append("--offline")
    env = {**os.environ, **ctx.step_env, **ctx.env}
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise ActionFailed(f"uv venv failed: {done.stderr.strip() or done.stdout.strip()}")
    ctx.paths.append(str(venv / "bin"))
    ctx.env["VIRTUAL_ENV"] = str(venv)
    ctx.outputs["venv"] = str(venv)
    ctx.log(f"activated {venv}")
