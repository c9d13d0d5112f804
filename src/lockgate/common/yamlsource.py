"""YAML 1.2 loading that remembers where every key and value came from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from .errors import UserError


def read_source(path: Path, name: str) -> str:
    """A YAML file's text, or a UserError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read {path.name}: {exc.strerror}", where=name) from exc
    except UnicodeDecodeError as exc:
        raise UserError("file is not UTF-8 text", where=name) from exc


def load_yaml(path: Path, display: str | None = None) -> Any:
    """Load a YAML file into ruamel's position-carrying containers. `on` stays a string key."""
    name = display or str(path)
    text = read_source(path, name)
    yaml = YAML(typ="rt", pure=True)
    yaml.version = (1, 2)
    yaml.allow_duplicate_keys = False
    try:
        tree = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = exc.problem or exc.context or "invalid YAML"
        raise UserError(
            f"invalid YAML: {problem}",
            where=where,
            hint="check indentation and quoting on that line",
        ) from exc
    except YAMLError as exc:
        raise UserError(f"invalid YAML: {exc}", where=name) from exc
    _bounded(tree, name)
    return tree


def quick_mapping(path: Path, name: str) -> dict[str, Any] | None:
    """A YAML file's mapping as plain data, read by libyaml's parser (a tenth of the time of
    the position-keeping reader, which a command reading lockgate.yml paid on every run), or
    None when it is anything else or anything goes wrong: then load_yaml reads it again, and
    says where. Same YAML 1.2 resolution, duplicate keys refused, aliases bounded."""
    yaml = YAML(typ="safe", pure=False)
    yaml.version = (1, 2)
    try:
        data = yaml.load(read_source(path, name))
    except (YAMLError, ValueError, TypeError, UserError):
        return None
    if not isinstance(data, dict):
        return None
    _bounded(data, name)
    return data


MAX_VALUES = 100_000  # values a file may hold once its aliases are expanded


def _bounded(tree: Any, name: str) -> None:
    """Refuse a file whose aliases expand to more values than any settings file needs (a
    "billion laughs" file would otherwise take every byte of memory when it is read)."""
    stack, seen = [tree], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise UserError(
                f"more than {MAX_VALUES} values once its aliases are expanded",
                where=name,
                hint="write the values out, or use fewer nested aliases",
            )
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def position(root: Any, path: Sequence[str | int]) -> tuple[int, int]:
    """1-based (line, column) of the deepest node of `path` that exists in `root`.

    Path elements that are not keys of the node (such as pydantic's union tags) are skipped.
    """
    node, line, col = root, 1, 1
    if hasattr(node, "lc"):
        line, col = node.lc.line + 1, node.lc.col + 1
    for key in path:
        if isinstance(node, CommentedMap) and key in node:
            kl, kc = node.lc.key(key)
            line, col = kl + 1, kc + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            il, ic = node.lc.item(key)
            line, col = il + 1, ic + 1
            node = node[key]
    return line, col


def value_position(root: Any, path: Sequence[str | int]) -> tuple[int, int]:
    """1-based position of the value at `path` (falls back to the key's position)."""
    *parent_path, last = path if path else ("",)
    parent = root
    for key in parent_path:
        try:
            parent = parent[key]
        except (KeyError, IndexError, TypeError):
            return position(root, path)
    if isinstance(parent, CommentedMap) and last in parent:
        vl, vc = parent.lc.value(last)
        return vl + 1, vc + 1
    return position(root, path)
