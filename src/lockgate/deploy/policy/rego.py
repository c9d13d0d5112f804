"""Policies written in Rego (OPA's language), evaluated in-process by regopy (rego-cpp).

A policy file is a `.rego` file whose package is `lockgate` or under it
(`package lockgate.residency`); other packages in the folder are not lockgate's and are left
alone. Every such package may define `deny` (a set of messages, or of objects with `msg`, as
conftest reads them; or `true`) and `warn`. Any deny blocks. A set that does not compile, or a
rule that fails while evaluated, is an error: the caller refuses (fail closed).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE = re.compile(r"^\s*package\s+(lockgate(?:\.[A-Za-z0-9_.]+)?)\s*$", re.MULTILINE)
MAX_BYTES = 1 << 20  # a policy file larger than this is not a policy


class PolicyError(Exception):
    """The policies cannot be evaluated: every decision is a refusal until they can."""


@dataclass(frozen=True)
class PolicyFile:
    display: str  # as messages name it: policies/residency.rego
    text: str


@dataclass(frozen=True)
class Finding:
    package: str  # lockgate.residency
    message: str


@dataclass
class Decision:
    denials: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0  # evaluation time

    @property
    def allowed(self) -> bool:
        return not self.denials


def read_folder(folder: Path, display: str) -> list[PolicyFile]:
    """lockgate's policy files in `folder` (none when it does not exist); the others are
    skipped. A symbolic link or an oversized file is an error, not skipped: it could hide a
    policy."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.rego")):
        shown = f"{display}/{path.name}"
        if path.is_symlink() or not path.is_file():
            raise PolicyError(f"{shown}: a policy must be a regular file, not a link")
        if path.stat().st_size > MAX_BYTES:
            raise PolicyError(f"{shown}: larger than {MAX_BYTES} bytes")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"{shown}: cannot be read: {exc}") from None
        if PACKAGE.search(text):
            found.append(PolicyFile(shown, text))
    return found


class PolicySet:
    """Compiled once per content; one evaluation at a time (rego-cpp is not thread-safe)."""

    _cache: dict[str, PolicySet] = {}
    _cache_lock = threading.Lock()

    def __init__(self, files: list[PolicyFile]) -> None:
        self.files = files
        self._lock = threading.Lock()
        self._interpreter: Any = None

    @classmethod
    def of(cls, files: list[PolicyFile]) -> PolicySet:
        key = hashlib.sha256(
            b"\0".join(f"{f.display}\0{f.text}".encode() for f in files)
        ).hexdigest()
        with cls._cache_lock:
            if key not in cls._cache:
                if len(cls._cache) > 16:
                    cls._cache.clear()
                cls._cache[key] = cls(files)
            return cls._cache[key]

    def evaluate(self, document: dict[str, Any]) -> Decision:
        began = time.perf_counter()
        if not self.files:
            return Decision()
        with self._lock:
            if self._interpreter is None:
                self._interpreter, output = self._compiled(document)
            else:
                output = self._query(self._interpreter, document)
        decision = Decision(seconds=time.perf_counter() - began)
        for package, rules in _packages(output):
            decision.denials += [Finding(package, m) for m in _messages(rules.get("deny"))]
            decision.warnings += [Finding(package, m) for m in _messages(rules.get("warn"))]
        return decision

    def _compiled(self, document: dict[str, Any]) -> tuple[Any, Any]:
        """An interpreter with every file, and its answer to the first query (which proves it
        compiles). rego-cpp prints compile
        errors to standard output, not into the exception: caught there, they are the
        message (file:line:col and the line), and the command's own output stays clean."""
        from regopy import Interpreter, RegoError

        interpreter = Interpreter()
        interpreter.strict_built_in_errors = True  # 1/0 is an error, not a rule that is silent
        with _stdout_captured() as printed:
            try:
                for policy in self.files:
                    interpreter.add_module(policy.display, policy.text)
                return interpreter, self._query(interpreter, document)
            except RegoError as exc:
                message = _compile_error(printed(), exc)
        raise PolicyError(message) from None

    @staticmethod
    def _query(interpreter: Any, document: dict[str, Any]) -> Any:
        interpreter.set_input(document)
        output = interpreter.query("data.lockgate")
        text = str(output)
        if not output.ok():
            raise PolicyError(f"a policy failed while evaluated: {text[:1000]}")
        if text == "undefined":  # no lockgate package defines anything
            return {}
        expressions = json.loads(text).get("expressions") or [{}]
        return expressions[0]


def _packages(tree: Any, prefix: str = "lockgate") -> Iterator[tuple[str, dict[str, Any]]]:
    """(package, its rules) for every package in data.lockgate's tree."""
    if not isinstance(tree, dict):
        return
    if "deny" in tree or "warn" in tree:
        yield prefix, tree
    for key, value in tree.items():
        if key not in ("deny", "warn") and isinstance(value, dict):
            yield from _packages(value, f"{prefix}.{key}")


def _messages(value: Any) -> list[str]:
    if value is None or value is False:
        return []
    if value is True:
        return ["denied"]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [
            str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in value
        ]
    return [str(value)]


def _compile_error(printed: str, failure: Exception) -> str:
    lines = [
        line.rstrip()
        for line in printed.splitlines()
        if line.strip()
        and line.strip() not in ("Errors:", "--")
        and not line.startswith("Pass ")
        and set(line.strip()) != {"~"}
        and "wellformed_error" not in line
    ]
    if not lines:
        return f"the policies do not compile: {str(failure).strip()[:500]}"
    return "the policies do not compile: " + " ".join(lines)[:1000]


_stdout_lock = threading.Lock()


@contextmanager
def _stdout_captured() -> Iterator[Any]:
    """What is written to file descriptor 1 meanwhile, read by the returned function."""
    import sys

    with _stdout_lock, tempfile.TemporaryFile() as sink:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(sink.fileno(), 1)
        libc = ctypes.CDLL(None)

        def printed() -> str:
            libc.fflush(None)  # C++ output is synced with C's stdio: flushed there
            sink.seek(0)
            return sink.read().decode(errors="replace")

        try:
            yield printed
        finally:
            libc.fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
