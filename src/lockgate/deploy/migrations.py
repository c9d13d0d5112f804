"""The schema migrations a release brings, as a rolling or canary rollout must treat them.

During a rollout the old version keeps running against the new schema. So before anything
changes, the release's new migrations (those the serving release's bundle does not have) are
checked for what the old version cannot live with: dropping or renaming a column or table,
adding a NOT NULL column without a default, changing a column's type. SQL goes through
squawk, PostgreSQL's migration linter; Alembic and Django migrations are read as Python (their
`op.execute` SQL through squawk too). Each finding names its statement and the expand/contract
way to do it; the rollout is refused unless the release says it was tested against the old
schema. Then the migrations run once, before the first new instance starts, under the
environment's lock; if they fail, the rollout never begins and no instance changes.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..artifacts.manifest import Migrations
from ..common.archive import safe_extract
from ..common.errors import UserError

# What squawk finds that the running version cannot live with, and the way around it.
EXPAND_CONTRACT = {
    "ban-drop-column": "stop reading and writing it in one release; drop it in a later one",
    "ban-drop-table": "stop using it in one release; drop it in a later one",
    "renaming-column": "add the new column, write both, backfill, read the new one; "
    "drop the old one in a later release",
    "renaming-table": "create the new table, write both, backfill, switch reads; drop the old "
    "one in a later release",
    "adding-required-field": "add it nullable (or with a default), write it from every "
    "version, then make it NOT NULL in a later release",
    "adding-not-nullable-field": "add it nullable (or with a default), write it from every "
    "version, then make it NOT NULL in a later release",
    "changing-column-type": "add a column of the new type, write both, backfill, read the new "
    "one; drop the old one in a later release",
    "ban-drop-database": "never in a rollout",
}
SUFFIXES = {"sql": ".sql", "alembic": ".py", "django": ".py"}
RUN_SECONDS = 600


@dataclass(frozen=True)
class Finding:
    file: str
    line: int  # 1-based
    statement: str
    rule: str

    def said(self) -> str:
        return (f"{self.file}:{self.line}: {self.statement.strip()} ({self.rule}): "
                f"{EXPAND_CONTRACT[self.rule]}")  # fmt: skip


def migration_files(bundle: Path, spec: Migrations) -> dict[str, str]:
    """The bundle's migrations: path inside it -> text."""
    root = PurePosixPath(spec.path.strip("/"))
    found = {}
    with tarfile.open(bundle, "r:gz") as tar:
        for member in tar.getmembers():
            path = PurePosixPath(member.name.removeprefix("./"))
            if member.isfile() and root in path.parents and path.suffix == SUFFIXES[spec.kind]:
                if spec.kind == "django" and path.name == "__init__.py":
                    continue
                data = tar.extractfile(member)
                if data is not None:
                    found[str(path)] = data.read().decode("utf-8", errors="replace")
    return found


def new_migrations(bundle: Path, serving: Path | None, spec: Migrations) -> dict[str, str]:
    """What the release adds to the serving release's migrations."""
    ours = migration_files(bundle, spec)
    if serving is None:
        return ours
    theirs = migration_files(serving, spec)
    return {path: text for path, text in ours.items() if path not in theirs}


def findings(files: dict[str, str], kind: str) -> list[Finding]:
    if kind == "sql":
        return squawk(files)
    found: list[Finding] = []
    sql: dict[str, str] = {}
    for path, text in sorted(files.items()):
        try:
            tree = ast.parse(text, path)
        except SyntaxError as exc:
            raise UserError(
                f"{path} is not Python: {exc.msg}", where=f"{path}:{exc.lineno}"
            ) from None
        reader = _alembic if kind == "alembic" else _django
        for line, statement, rule in reader(tree, sql, path):
            found.append(Finding(path, line, statement, rule))
    return found + squawk(sql)


def squawk(files: dict[str, str]) -> list[Finding]:
    """squawk's findings the running version cannot live with, in `files` (name -> SQL)."""
    if not files:
        return []
    command = shutil.which("squawk") or str(Path(sys.executable).parent / "squawk")
    if not Path(command).exists():
        raise UserError("squawk, the migration linter, is not installed",
                        hint="pip install squawk-cli")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="lockgate-squawk-") as scratch:
        named = {}
        for index, (path, text) in enumerate(sorted(files.items())):
            copy = Path(scratch) / f"{index:04d}.sql"
            copy.write_text(text)
            named[str(copy)] = path
        done = subprocess.run([command, "--reporter", "json", *named], capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    try:
        said = json.loads(done.stdout or "[]")
    except ValueError:
        raise UserError(f"squawk could not read the migrations: {done.stderr.strip()}") from None
    found = []
    for item in said:
        if item.get("rule_name") not in EXPAND_CONTRACT:
            continue  # locking and robustness advice: squawk's own run says it
        path = named.get(item["file"], item["file"])
        line, statement = _statement(files.get(path, ""), int(item["line"]), int(item["column"]))
        found.append(Finding(path, line, statement, item["rule_name"]))
    return found


def _statement(text: str, line: int, column: int) -> tuple[int, str]:
    """The whole statement around squawk's (0-based) position, and the line it starts on."""
    lines = text.splitlines(keepends=True)
    at = sum(len(x) for x in lines[:line]) + column
    start = text.rfind(";", 0, at) + 1
    end = text.find(";", at)
    whole = text[start : end + 1 if end >= 0 else len(text)]
    kept = [x for x in whole.splitlines() if x.strip() and not x.strip().startswith("--")]
    first = start + (len(whole) - len(whole.lstrip()))
    while first < len(text) and text.startswith("--", first):  # a comment before it
        first = text.find("\n", first) + 1 or len(text)
        first += len(text[first:]) - len(text[first:].lstrip())
    return text.count("\n", 0, first) + 1, " ".join(x.strip() for x in kept)


_ALEMBIC = {"drop_column": "ban-drop-column", "drop_table": "ban-drop-table",
            "rename_table": "renaming-table"}  # fmt: skip
_DJANGO = {"RemoveField": "ban-drop-column", "DeleteModel": "ban-drop-table",
           "RenameField": "renaming-column", "RenameModel": "renaming-table"}  # fmt: skip


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _false(value: ast.expr | None) -> bool:
    return isinstance(value, ast.Constant) and value.value is False


def _alembic(tree: ast.AST, sql: dict[str, str], path: str) -> list[tuple[int, str, str]]:
    found = []
    for call in _calls(tree):
        name, shown = _name(call), ast.unparse(call)
        if name in _ALEMBIC:
            found.append((call.lineno, shown, _ALEMBIC[name]))
        elif name == "alter_column":
            if _keyword(call, "new_column_name") is not None:
                found.append((call.lineno, shown, "renaming-column"))
            elif _keyword(call, "type_") is not None:
                found.append((call.lineno, shown, "changing-column-type"))
            elif _false(_keyword(call, "nullable")):
                found.append((call.lineno, shown, "adding-required-field"))
        elif name == "add_column":
            column = next((a for a in call.args if isinstance(a, ast.Call)), None)
            if (
                column is not None
                and _false(_keyword(column, "nullable"))
                and (_keyword(column, "server_default") is None)
            ):
                found.append((call.lineno, shown, "adding-required-field"))
        elif name == "execute" and call.args and isinstance(call.args[0], ast.Constant):
            sql[f"{path}:{call.lineno}"] = str(call.args[0].value)
    return found


def _django(tree: ast.AST, sql: dict[str, str], path: str) -> list[tuple[int, str, str]]:
    found = []
    for call in _calls(tree):
        name, shown = _name(call), ast.unparse(call)
        if name in _DJANGO:
            found.append((call.lineno, shown, _DJANGO[name]))
        elif name == "AddField" and isinstance(field := _keyword(call, "field"), ast.Call):
            nullable = isinstance(n := _keyword(field, "null"), ast.Constant) and n.value is True
            if not nullable and _keyword(field, "default") is None:
                found.append((call.lineno, shown, "adding-required-field"))  # NOT NULL by default
        elif name == "RunSQL" and call.args and isinstance(call.args[0], ast.Constant):
            sql[f"{path}:{call.lineno}"] = str(call.args[0].value)
    return found


def check(bundle: Path, serving: Path | None, spec: Migrations) -> list[Finding]:
    """What the release's new migrations do that the running version cannot live with; none
    to look for on a first deploy (nothing old runs) or for a release tested against the old
    schema."""
    if serving is None or spec.tested_against_old_schema:
        return []
    return findings(new_migrations(bundle, serving, spec), spec.kind)


def refusal(found: list[Finding]) -> UserError:
    listed = "\n".join(f"  {f.said()}" for f in found)
    return UserError(
        f"the release's migrations change the schema under the running version:\n{listed}",
        hint="split the change over releases (expand, then contract), or mark the release "
        "`tested-against-old-schema: true` in lockgate-app.yaml",
    )


def run(bundle: Path, spec: Migrations, digest: str) -> str:
    """The migrations' command, in the release unpacked, with the deployer's environment (the
    database it names); its last lines, or UserError with them when it fails."""
    with tempfile.TemporaryDirectory(prefix="lockgate-migrate-") as scratch:
        with tarfile.open(bundle, "r:gz") as tar:
            safe_extract(tar, Path(scratch))
        env = {**os.environ, "LOCKGATE_RELEASE": digest}
        try:
            done = subprocess.run(["bash", "-c", spec.run], cwd=scratch, env=env,
                                  capture_output=True, text=True, timeout=RUN_SECONDS)  # fmt: skip
        except subprocess.TimeoutExpired:
            raise UserError(f"the migrations took more than {RUN_SECONDS}s") from None
    said = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
    if done.returncode != 0:
        raise UserError(f"the migrations failed (exit {done.returncode}); no instance changed:"
                        f"\n{said}", hint="fix the migration and deploy again")  # fmt: skip
    return said
