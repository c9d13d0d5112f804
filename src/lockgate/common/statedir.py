"""`.lockgate/` at a repository's root: lockgate's store, caches, bundles and fleets."""

from __future__ import annotations

from pathlib import Path


def state_path(repo: Path) -> Path:
    """Where the directory is, without making it (for commands that only read)."""
    return repo / ".lockgate"


def state_dir(repo: Path) -> Path:
    """The directory, created with a .gitignore so its contents never enter a workspace or a
    commit."""
    directory = state_path(repo)
    directory.mkdir(parents=True, exist_ok=True)
    ignore = directory / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    return directory
