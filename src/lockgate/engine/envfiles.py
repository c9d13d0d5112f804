"""GITHUB_ENV / GITHUB_OUTPUT / GITHUB_STATE files: `NAME=value` and `NAME<<DELIM` blocks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..common.errors import UserError


class EnvFileError(ValueError):
    pass


def parse_env_file(path: Path, shown: str = "") -> dict[str, str]:
    """`NAME=value` lines and `NAME<<DELIMITER` blocks; errors name the file as `shown`."""
    shown = shown or path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if heredoc > 0 and (eq < 0 or heredoc < eq):
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            if not name or not delimiter:
                raise EnvFileError(f"{shown}: invalid line {line!r}")
            block: list[str] = []
            while i < len(lines) and lines[i] != delimiter:
                block.append(lines[i])
                i += 1
            if i >= len(lines):
                raise EnvFileError(
                    f"{shown}: matching delimiter {delimiter!r} not found for {name!r}"
                )
            i += 1
            values[name] = "\n".join(block)
        elif eq > 0:
            values[line[:eq]] = line[eq + 1 :]
        else:
            raise EnvFileError(
                f"{shown}: invalid line {line!r}; expected NAME=value or NAME<<DELIMITER"
            )
    return values


def read_secret_file(path: Path | None) -> dict[str, str]:
    """The NAME=value lines of a `--secret-file` ({} without one); a clear error when it is
    missing or malformed."""
    if path is None:
        return {}
    if not path.is_file():
        raise UserError(f"{path} does not exist", where="--secret-file")
    try:
        return parse_env_file(path)
    except EnvFileError as exc:
        raise UserError(str(exc), where=f"--secret-file {path}") from None


def read_path_file(path: Path) -> list[str]:
    try:
        return [p for p in path.read_text(encoding="utf-8").splitlines() if p.strip()]
    except FileNotFoundError:
        return []


COMMAND_FILES = (
    "GITHUB_ENV",
    "GITHUB_OUTPUT",
    "GITHUB_PATH",
    "GITHUB_STATE",
    "GITHUB_STEP_SUMMARY",
)


@dataclass(frozen=True)
class Written:
    """What one step wrote to its command files."""

    env: dict[str, str]
    paths: list[str]  # in the order written
    outputs: dict[str, str]
    state: dict[str, str]
    summary: str


class CommandFiles:
    """A job's GITHUB_ENV, ... files: created once, emptied after each step reads them
    (creating five files per step costs more than running a trivial step)."""

    def __init__(self, directory: Path) -> None:
        self.paths = {name: directory / name.lower() for name in COMMAND_FILES}
        self.ready = False

    def for_step(self) -> dict[str, Path]:
        if not self.ready:
            for path in self.paths.values():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
            self.ready = True
        return dict(self.paths)

    def take(self) -> Written:
        """What the step wrote; the files are empty again for the next one."""
        taken = {name: _take(path) for name, path in self.paths.items()}

        def read(name: str) -> dict[str, str]:
            found = taken[name]
            return parse_env_file(found, f"${name}") if found else {}

        path_file, summary_file = taken["GITHUB_PATH"], taken["GITHUB_STEP_SUMMARY"]
        summary = summary_file.read_text(encoding="utf-8", errors="replace") if summary_file else ""
        return Written(
            env=read("GITHUB_ENV"),
            paths=read_path_file(path_file) if path_file else [],
            outputs=read("GITHUB_OUTPUT"),
            state=read("GITHUB_STATE"),
            summary=summary if not summary.strip() or summary.endswith("\n") else summary + "\n",
        )


def _take(path: Path) -> Path | None:
    """The file when a step wrote to it (then emptied for the next step), else None."""
    if path.stat().st_size == 0:
        return None
    taken = path.with_suffix(".taken")
    path.replace(taken)
    path.touch()
    return taken
