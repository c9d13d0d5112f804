"""GITHUB_ENV / GITHUB_OUTPUT / GITHUB_STATE files: `NAME=value` and `NAME<<DELIM` blocks."""

from __future__ import annotations

from pathlib import Path


class EnvFileError(ValueError):
    pass


def parse_env_file(path: Path) -> dict[str, str]:
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
                raise EnvFileError(f"{path.name}: invalid line {line!r}")
            block: list[str] = []
            while i < len(lines) and lines[i] != delimiter:
                block.append(lines[i])
                i += 1
            if i >= len(lines):
                raise EnvFileError(
                    f"{path.name}: matching delimiter {delimiter!r} not found for {name!r}"
                )
            i += 1
            values[name] = "\n".join(block)
        elif eq > 0:
            values[line[:eq]] = line[eq + 1 :]
        else:
            raise EnvFileError(
                f"{path.name}: invalid line {line!r}; expected NAME=value or NAME<<DELIMITER"
            )
    return values


def read_path_file(path: Path) -> list[str]:
    try:
        return [p for p in path.read_text(encoding="utf-8").splitlines() if p.strip()]
    except FileNotFoundError:
        return []
