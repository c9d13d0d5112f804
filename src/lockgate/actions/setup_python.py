"""`actions/setup-python`: a fresh virtual environment per job, made from a matching interpreter.

GitHub's runner gives each job its own toolchain; on a developer's machine lockgate must never
change the user's own Python. So the job gets a virtual environment (first on PATH: python,
pip, console scripts) under its temp folder, made from an installed interpreter that matches
`python-version`. pip comes from a template environment kept per interpreter in lockgate's
tool cache (made once: `ensurepip` costs seconds), linked in with a .pth file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..common.userdirs import cache_dir
from .builtin import ActionFailed, BuiltinContext
from .setup_uv import install as install_uv
from .versions import Spec, Version, best

PROBE = (
    "import json,platform,sys;print(json.dumps([getattr(sys,'_base_executable',sys.executable),"
    "platform.python_version(),platform.python_implementation(),sys.prefix!=sys.base_prefix]))"
)


@dataclass(frozen=True)
class Interpreter:
    executable: str
    version: Version
    implementation: str  # "CPython" | "PyPy"

    def describe(self) -> str:
        return f"{self.implementation} {self.version} ({self.executable})"


def _probe(path: str) -> Interpreter | None:
    try:
        done = subprocess.run(
            [path, "-c", PROBE], capture_output=True, text=True, timeout=20, check=False
        )
        executable, text, implementation, _ = json.loads(done.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    version = Version.parse(text.replace("+", ""))
    if version is None:
        return None
    return Interpreter(os.path.realpath(executable), version, implementation)


def _candidates() -> list[str]:
    """Interpreters on PATH, pyenv's, uv's (and lockgate's own uv-installed ones)."""
    names = re.compile(r"(python|pypy)(\d(\.\d+)?)?")
    found: list[str] = []
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if directory.rstrip("/").endswith("/shims"):
            continue  # pyenv's shims pick a version by configuration; its versions are below
        try:
            entries = sorted(os.listdir(directory or "."))
        except OSError:
            continue
        found.extend(os.path.join(directory, e) for e in entries if names.fullmatch(e))
    roots = [
        Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser() / "versions",
        Path(os.environ.get("UV_PYTHON_INSTALL_DIR", "~/.local/share/uv/python")).expanduser(),
        cache_dir("pythons"),
    ]
    for root in roots:
        if root.is_dir():
            found.extend(str(p) for p in sorted(root.glob("*/bin/python3")) if p.exists())
            found.extend(str(p) for p in sorted(root.glob("*/bin/pypy3")) if p.exists())
    return found


def installed() -> list[Interpreter]:
    """Every distinct interpreter found. A probe costs tens of milliseconds, so results are
    kept in the tool cache per file, size and modification time."""
    memo_path = cache_dir("setup-python") / "probes.json"
    try:
        memo: dict[str, list[str] | None] = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    seen: dict[str, Interpreter] = {}
    fresh: dict[str, list[str] | None] = {}
    for path in _candidates():
        try:
            info = os.stat(path)
        except OSError:
            continue
        key = f"{os.path.realpath(path)}|{info.st_size}|{info.st_mtime_ns}|{path}"
        if key in memo:
            fresh[key] = memo[key]
        else:
            probed = _probe(path)
            fresh[key] = (
                [probed.executable, str(probed.version), probed.implementation] if probed else None
            )
        entry = fresh[key]
        version = Version.parse(entry[1]) if entry else None
        if entry and version:
            seen.setdefault(entry[0], Interpreter(entry[0], version, entry[2]))
    if fresh != memo:
        partial = memo_path.with_suffix(f".{uuid.uuid4().hex}")  # jobs probe from threads
        partial.write_text(json.dumps(fresh))
        partial.replace(memo_path)
    return list(seen.values())


def wanted_specs(ctx: BuiltinContext) -> list[str]:
    """python-version (one per line), else python-version-file, else [] (the default python)."""
    specs = ctx.lines("python-version")
    if specs:
        return specs
    name = ctx.input("python-version-file")
    if not name:
        default = ctx.workspace / ".python-version"
        return _version_file(default) if default.is_file() else []
    path = (ctx.workspace / name).resolve()
    if not path.is_relative_to(ctx.workspace.resolve()) or not path.is_file():
        raise ActionFailed(f"python-version-file {name!r} is not a file in the workspace")
    return _version_file(path)


def _version_file(path: Path) -> list[str]:
    text = path.read_text(errors="replace")
    if path.name == "pyproject.toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ActionFailed(f"{path.name}: {exc}") from None
        spec = data.get("project", {}).get("requires-python") or (
            data.get("tool", {}).get("poetry", {}).get("dependencies", {}).get("python")
        )
        if not isinstance(spec, str):
            raise ActionFailed(f"{path.name} names no Python version (project.requires-python)")
        return [spec]
    if path.name == ".tool-versions":
        for line in text.splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "python":
                return fields[1:2]
        raise ActionFailed(".tool-versions has no `python` line")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"][:1]


def choose(spec: str, interpreters: list[Interpreter], prereleases: bool) -> Interpreter | None:
    pypy = re.fullmatch(r"pypy-?(.*)", spec.strip())
    implementation = "PyPy" if pypy else "CPython"
    text = pypy.group(1) if pypy else spec
    pool = [i for i in interpreters if i.implementation == implementation]
    # PyPy's own version is not its Python version; pypy3.10 names the Python version.
    chosen = best([Spec(text or "3")], [i.version for i in pool], prereleases)
    return next((i for i in pool if i.version == chosen), None)


def _template(interpreter: Interpreter) -> Path:
    """site-packages holding pip for this interpreter, made once in the tool cache."""
    digest = hashlib.sha256(interpreter.executable.encode()).hexdigest()[:12]
    root = (
        cache_dir("setup-python") / f"{interpreter.implementation}-{interpreter.version}-{digest}"
    )
    ready = root / "site-packages.txt"
    with open(f"{root}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # jobs of one run may ask for it at the same moment
        if ready.is_file():
            return Path(ready.read_text().strip())
        shutil.rmtree(root, ignore_errors=True)
        _run([interpreter.executable, "-m", "venv", str(root)], "make the pip template")
        site = _site_packages(root)
        ready.write_text(str(site))  # written last: a half-made template is made again
        return site


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/*/site-packages")) + sorted(venv.glob("lib/site-packages"))
    if not found:
        raise ActionFailed(f"no site-packages in {venv}")
    return found[0]


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ActionFailed(f"could not {what}: {last[0]}")


# GitHub's setup-python interpreter is a real one, where `pip install --user` works (the
# packaging guide's publishing workflow does it). pip refuses --user in a venv that hides
# the interpreter's own site-packages, so the job's venv lets them in, and this module, run
# by Python at start-up, takes them out again: a job sees only what it installed. Written as
# usercustomize (runs unless the user site is off) and sitecustomize (runs unless the base
# interpreter has its own, as Debian's has).
HIDE_BASE_SITE = """\
# Written by lockgate's actions/setup-python: the base interpreter's site-packages stay out.
import site as _site
import sys as _sys

_own = _sys.prefix.rstrip("/") + "/"
_base = {p for p in _site.getsitepackages() if not p.startswith(_own)}
_sys.path[:] = [p for p in _sys.path if p not in _base]
"""


def make_venv(interpreter: Interpreter, target: Path) -> Path:
    """A virtual environment at target with pip; returns its bin directory."""
    command = [interpreter.executable, "-m", "venv", "--without-pip", "--system-site-packages"]
    _run([*command, str(target)], "make a venv")
    site_packages = _site_packages(target)
    for name in ("usercustomize.py", "sitecustomize.py"):
        (site_packages / name).write_text(HIDE_BASE_SITE)
    (site_packages / "_lockgate_pip.pth").write_text(f"{_template(interpreter)}\n")
    bin_dir = target / "bin"
    major_minor = f"{interpreter.version.major}.{interpreter.version.minor}"
    for name in ("pip", "pip3", f"pip{major_minor}"):
        script = bin_dir / name
        script.write_text('#!/bin/sh\nexec "$(dirname "$0")/python" -m pip "$@"\n')
        script.chmod(0o755)
    return bin_dir


def _base_link(interpreter: Interpreter, directory: Path) -> Path:
    """A directory holding only `python3.X` -> the interpreter itself, behind the venv on PATH.

    Tools that want a real (not virtual) interpreter, as GitHub's toolcache one is (uv with
    `--python-preference system`, tox-uv, nox), find it there; `python` and `pip` stay the
    venv's, so installing still never writes into the interpreter.
    """
    directory.mkdir(parents=True, exist_ok=True)
    version = interpreter.version
    prefix = "pypy" if interpreter.implementation == "PyPy" else "python"
    link = directory / f"{prefix}{version.major}.{version.minor}"
    if not link.exists():
        link.symlink_to(interpreter.executable)
    return directory


def _uv_install(spec: str, ctx: BuiltinContext) -> str:
    """Try `uv python install SPEC` into the tool cache; why it failed, or ""."""
    if ctx.offline:
        return "downloads are off (--offline)"
    uv = shutil.which("uv")
    if uv is None:
        try:
            _, directory = install_uv("latest", offline=False)
        except ActionFailed as exc:
            return f"uv could not be had: {exc}"
        uv = str(directory / "uv")
    env = {**os.environ, "UV_PYTHON_INSTALL_DIR": str(cache_dir("pythons"))}
    done = subprocess.run(
        [uv, "python", "install", spec], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode == 0:
        return ""
    return (done.stderr.strip().splitlines() or ["uv python install failed"])[-1]


def setup_python(ctx: BuiltinContext) -> None:
    prereleases = ctx.input("allow-prereleases").lower() == "true"
    specs = wanted_specs(ctx) or [""]
    interpreters = installed()
    chosen: list[Interpreter] = []
    for spec in specs:
        found = choose(spec, interpreters, prereleases) if spec else _default(interpreters)
        if found is None and spec:
            why = _uv_install(spec, ctx)
            if not why:
                interpreters = installed()
                found = choose(spec, interpreters, prereleases)
            if found is None:
                listed = "; ".join(i.describe() for i in interpreters) or "none"
                raise ActionFailed(
                    f"no installed Python matches python-version {spec!r} (found: {listed}). "
                    f"Install one (`uv python install {spec}`, pyenv, or the system's package), "
                    f"or change python-version. ({why})"
                )
        assert found is not None
        chosen.append(found)
    # update-environment: false (action.yml's default is true) leaves PATH and the variables
    # alone: the step's outputs alone say where the interpreter is
    update = ctx.input("update-environment").strip().lower() != "false"
    for interpreter in chosen:  # the last one named ends up first on PATH, as on GitHub
        venv = ctx.temp / "setup-python" / f"{interpreter.implementation}-{interpreter.version}"
        bin_dir = venv / "bin" if venv.exists() else make_venv(interpreter, venv)
        if update:
            ctx.paths.append(str(_base_link(interpreter, venv.with_name(venv.name + "-base"))))
            ctx.paths.append(str(bin_dir))
        ctx.log(f"Python {interpreter.version} ({interpreter.executable}) in a fresh venv {venv}")
    last = chosen[-1]
    venv_dir = ctx.temp / "setup-python" / f"{last.implementation}-{last.version}"
    ctx.outputs.update(
        {
            "python-version": str(last.version),
            "python-path": str(venv_dir / "bin" / "python"),
            "cache-hit": "false",
        }
    )
    if update:
        for name in ("pythonLocation", "Python_ROOT_DIR", "Python3_ROOT_DIR"):
            ctx.env[name] = str(venv_dir)
        ctx.env["PKG_CONFIG_PATH"] = str(venv_dir / "lib" / "pkgconfig")
        # `pip install --user` goes to the job's own user base, never the user's ~/.local;
        # its scripts are on PATH, as ~/.local/bin is on GitHub's runners.
        user_base = ctx.temp / "setup-python" / "user"
        ctx.env["PYTHONUSERBASE"] = str(user_base)
        ctx.paths.insert(0, str(user_base / "bin"))


def _default(interpreters: list[Interpreter]) -> Interpreter | None:
    """No version asked: the `python3` first on PATH, as the runner's default Python."""
    path = shutil.which("python3")
    probed = _probe(path) if path else None
    return probed or (interpreters[0] if interpreters else None)
