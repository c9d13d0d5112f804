"""Built-in equivalents of the most used actions, so they run with no download."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from ..common.archive import UnsafeArchive, check_members, safe_extract, under
from ..common.files import copy_tree


class ActionFailed(Exception):
    """The action ran and failed; the message says why and what to do."""


@dataclass
class BuiltinContext:
    workspace: Path
    snapshot: Path | None  # the run's copy of the repository; None when running in place
    inputs: dict[str, str]
    step_env: Mapping[str, str]  # the environment the step runs with
    state_dir: Path  # the repository's .lockgate directory
    repository: str  # the run's: owner/name, its commit and its ref
    sha: str
    ref: str
    run_id: int
    temp: Path
    log: Callable[[str], None]
    outputs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # exported to later steps
    paths: list[str] = field(default_factory=list)  # prepended to PATH of later steps
    post: list[Callable[[bool], None]] = field(default_factory=list)  # arg: job succeeded
    offline: bool = False  # nothing may be downloaded (`lockgate run --offline`)
    mask: Callable[[str], str] = str  # the run's secret masker: names and keys are stored masked
    artifacts: list[tuple[str, str, int]] = field(default_factory=list)

    def input(self, name: str, default: str = "") -> str:
        return self.inputs.get(name, "") or default

    def lines(self, name: str) -> list[str]:
        return [x.strip() for x in self.input(name).splitlines() if x.strip()]


def checkout(ctx: BuiltinContext) -> None:
    repository = ctx.input("repository").strip()
    if repository and repository.lower() != ctx.repository.lower():
        raise ActionFailed(
            f"repository {repository!r} is not this run's ({ctx.repository}): lockgate checks "
            "out only the repository it runs; clone another one in a `run:` step"
        )
    target = (ctx.workspace / ctx.input("path", ".")).resolve()
    if not target.is_relative_to(ctx.workspace.resolve()):
        raise ActionFailed(f"path {ctx.input('path')!r} is outside the workspace")
    if ctx.snapshot is None:
        ctx.log("running in place (--bind): the workspace is the repository itself")
    else:
        copy_tree(ctx.snapshot, target)
        ctx.log(f"checked out the working tree into {target}")
    ref = ctx.input("ref").strip()
    commit = _git_commit(target, "HEAD") or ctx.sha
    if ref and ctx.snapshot is not None:
        wanted = _git_commit(target, ref) or _git_commit(target, f"origin/{ref}")
        if wanted is None:
            raise ActionFailed(f"ref {ref!r} is not a commit, branch or tag of this repository")
        if wanted != commit:
            # As a fresh clone of that ref: its tree exactly, the run's own changes gone.
            _git(target, "checkout", "-q", "--force", "--detach", wanted)
            _git(target, "clean", "-q", "-ffdx")
            ctx.log(f"checked out {ref} ({wanted[:12]})")
            commit = wanted
    ctx.outputs.update({"ref": ref or ctx.ref, "commit": commit})


def _git(where: Path, *args: str) -> str | None:
    done = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def _git_commit(where: Path, name: str) -> str | None:
    """The commit `name` resolves to in the checkout at `where`, or None."""
    if name.startswith("-") or not (where / ".git").exists():
        return None
    return _git(where, "rev-parse", "--verify", "-q", "--end-of-options", f"{name}^{{commit}}")


def flag(ctx: BuiltinContext, name: str) -> bool:
    """A boolean input, read as the actions toolkit's getBooleanInput reads it."""
    value = ctx.input(name, "false").strip()
    if value.lower() not in ("true", "false"):
        raise ActionFailed(f"input {name!r} is {value!r}: it must be true or false")
    return value.lower() == "true"


# -- actions/cache ---------------------------------------------------------------------


def _cache_dir(ctx: BuiltinContext) -> Path:
    return ctx.state_dir / "cache" / "actions"


def _cache_file(ctx: BuiltinContext, key: str) -> Path:
    return _cache_dir(ctx) / (hashlib.sha256(key.encode()).hexdigest() + ".tar.gz")


def _cache_paths(ctx: BuiltinContext) -> list[tuple[str, Path, str]]:
    """(root tag, root, path relative to it) for each `path:` line; `~` is the home directory,
    absolute paths are kept as GitHub keeps them, relative ones are in the workspace."""
    roots = {"workspace": ctx.workspace.resolve(), "home": Path.home().resolve()}
    found = []
    for line in ctx.lines("path"):
        if line.startswith("!"):
            continue  # exclusions: nothing is excluded here (the entry is simply larger)
        expanded = Path(os.path.expanduser(line))
        absolute = expanded if expanded.is_absolute() else ctx.workspace / expanded
        matches = glob.glob(str(absolute), recursive=True) if glob.has_magic(line) else [absolute]
        for match in map(Path, matches):
            full = Path(os.path.normpath(match))
            for tag, root in roots.items():
                if full.is_relative_to(root):
                    found.append((tag, root, str(full.relative_to(root))))
                    break
            else:
                found.append(("root", Path("/"), str(full.relative_to("/"))))
    return found


def _inside(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Save filter: a link that points outside the saved tree is left out, never restored."""
    if info.issym() and (info.linkname.startswith("/") or ".." in info.linkname.split("/")):
        return None
    return info if info.isreg() or info.isdir() or info.issym() else None


def cache(ctx: BuiltinContext) -> None:
    key = ctx.mask(ctx.input("key"))  # kept in the index: never a secret, raw
    paths = _cache_paths(ctx)
    if not key or not ctx.lines("path"):
        raise ActionFailed("actions/cache needs `key` and `path` inputs")
    index_path = _cache_dir(ctx) / "index.json"
    index: dict[str, float] = json.loads(index_path.read_text()) if index_path.exists() else {}
    hit_key = key if key in index else None
    if hit_key is None:
        for prefix in map(ctx.mask, ctx.lines("restore-keys")):
            candidates = [k for k in index if k.startswith(prefix)]
            if candidates:
                hit_key = max(candidates, key=lambda k: index[k])
                break
    lookup_only = flag(ctx, "lookup-only")
    if hit_key is not None and not lookup_only:
        try:
            _restore(ctx, _cache_file(ctx, hit_key))
        except (OSError, tarfile.TarError, UnsafeArchive) as exc:
            ctx.log(f"::warning::cache entry for {hit_key!r} not restored: {exc}")
            hit_key = None
    if hit_key is not None:
        ctx.log(f"cache {'found' if lookup_only else 'restored'} from key: {hit_key}")
        ctx.outputs["cache-matched-key"] = hit_key
    elif flag(ctx, "fail-on-cache-miss"):
        raise ActionFailed(f"no cache entry for key {key!r} nor its restore-keys")
    else:
        ctx.log(f"cache not found for key: {key}")
    ctx.outputs["cache-hit"] = "true" if hit_key == key else "false"
    save_always = flag(ctx, "save-always")

    def save(succeeded: bool) -> None:
        if not (succeeded or save_always) or hit_key == key:
            return
        _cache_dir(ctx).mkdir(parents=True, exist_ok=True)
        partial = _cache_file(ctx, key).with_suffix(".partial")
        with tarfile.open(partial, "w:gz") as archive:
            for tag, root, relative in paths:
                if (root / relative).exists():
                    archive.add(root / relative, arcname=f"{tag}/{relative}", filter=_inside)
        partial.replace(_cache_file(ctx, key))
        current = json.loads(index_path.read_text()) if index_path.exists() else {}
        current[key] = time.time()
        index_path.write_text(json.dumps(current))
        ctx.log(f"cache saved with key: {key}")

    ctx.post.append(save)


def _restore(ctx: BuiltinContext, entry: Path) -> None:
    roots = {"workspace": ctx.workspace, "home": Path.home(), "root": Path("/")}
    with tarfile.open(entry) as archive:
        members = archive.getmembers()
        check_members(members)
        unknown = {m.name.split("/", 1)[0] for m in members} - set(roots)
        if unknown:
            raise UnsafeArchive(f"unknown roots {sorted(unknown)}")
        for tag, root in roots.items():
            chosen = under(members, tag)
            if chosen:
                safe_extract(archive, root, members=chosen)


# -- artifacts ----------------------------------------------------------------------------

_ARTIFACT_NAME = re.compile(r'[^"<>:|*?\\/\r\n]+')
INVALID_NAME = 'it may not be "." or "..", nor contain " < > : | * ? \\ /'


def valid_artifact_name(name: str) -> bool:
    return bool(_ARTIFACT_NAME.fullmatch(name)) and name not in (".", "..")


def artifact_root(state_dir: Path, run_id: int) -> Path:
    return state_dir / "artifacts" / str(run_id)


def upload_artifact(ctx: BuiltinContext) -> None:
    name = ctx.input("name", "artifact")
    if ctx.mask(name) != name:
        raise ActionFailed("an artifact name may not hold a secret (it is stored as a name)")
    if not valid_artifact_name(name):
        raise ActionFailed(f"invalid artifact name {name!r}: {INVALID_NAME}")
    files: list[Path] = []
    for pattern in ctx.lines("path"):
        matched = glob.glob(str(ctx.workspace / pattern), recursive=True)
        for hit in map(Path, matched):
            files.extend([p for p in hit.rglob("*") if p.is_file()] if hit.is_dir() else [hit])
    if not flag(ctx, "include-hidden-files"):  # as upload-artifact@v4.4 and later
        files = [f for f in files if not _hidden(f, ctx.workspace)]
    if not files:
        policy = ctx.input("if-no-files-found", "warn")
        message = f"no files found for path {ctx.lines('path')}; no artifact uploaded"
        if policy == "error":
            raise ActionFailed(message)
        if policy == "warn":
            ctx.log(f"::warning::{message}")
        return
    base = Path(os.path.commonpath([str(p.parent) for p in files]))
    target = artifact_root(ctx.state_dir, ctx.run_id) / name
    if target.exists():
        if not flag(ctx, "overwrite"):
            raise ActionFailed(
                f"an artifact named {name!r} was already uploaded in this run (set "
                "`overwrite: true` to replace it)"
            )
        shutil.rmtree(target)
    size = 0
    for file in files:
        dest = target / file.relative_to(base)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, dest)
        size += file.stat().st_size
    ctx.artifacts.append((name, str(target), size))
    ctx.outputs["artifact-id"] = name
    ctx.log(f"uploaded artifact {name!r}: {len(files)} file(s), {size} bytes")


def _hidden(path: Path, workspace: Path) -> bool:
    """A dot-file, or a file in a dot-directory, below the workspace."""
    shown = path.relative_to(workspace) if path.is_relative_to(workspace) else Path(path.name)
    return any(part.startswith(".") and part not in (".", "..") for part in shown.parts)


def download_artifact(ctx: BuiltinContext) -> None:
    root = artifact_root(ctx.state_dir, ctx.run_id)
    name = ctx.input("name")
    destination = ctx.workspace / os.path.expanduser(ctx.input("path", "."))
    if name:
        source = root / name
        if not valid_artifact_name(name) or source.parent != root:
            raise ActionFailed(f"invalid artifact name {name!r}: {INVALID_NAME}")
        if not source.is_dir():
            raise ActionFailed(
                f"no artifact named {name!r} in this run (uploaded so far: "
                f"{', '.join(sorted(p.name for p in root.glob('*'))) or 'none'})"
            )
        shutil.copytree(source, destination, dirs_exist_ok=True)
    else:
        pattern = ctx.input("pattern").strip()
        chosen = [p for p in sorted(root.glob("*")) if not pattern or fnmatch(p.name, pattern)]
        # Each into a folder of its name, or all into one (merge-multiple), as GitHub does.
        merge = flag(ctx, "merge-multiple")
        for source in chosen:
            shutil.copytree(source, destination if merge else destination / source.name,
                            dirs_exist_ok=True)  # fmt: skip
        ctx.log(f"{len(chosen)} artifact(s){' matching ' + pattern if pattern else ''}")
    ctx.outputs["download-path"] = str(destination)
    ctx.log(f"downloaded {'artifact ' + repr(name) if name else 'artifacts'} to {destination}")
