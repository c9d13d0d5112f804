"""What a release's new migrations do that the running version cannot live with: SQL read by
squawk, Alembic and Django migrations read as Python, each finding with its expand/contract
way; only what the serving release lacks is looked at."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from lockgate.artifacts.manifest import Migrations
from lockgate.deploy.migrations import check, findings, refusal

SAFE_SQL = "ALTER TABLE users ADD COLUMN nickname text;\n"
UNSAFE_SQL = """-- tidy up
ALTER TABLE users DROP COLUMN email;
ALTER TABLE users
  RENAME COLUMN name TO full_name;
ALTER TABLE users ADD COLUMN age bigint NOT NULL;
"""
ALEMBIC = """
from alembic import op
import sqlalchemy as sa

def upgrade():
    op.add_column("users", sa.Column("nick", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("age", sa.Integer(), nullable=False))
    op.add_column("users", sa.Column("tier", sa.Text(), nullable=False, server_default="free"))
    op.alter_column("users", "name", new_column_name="full_name")
    op.drop_table("sessions")
    op.execute("ALTER TABLE users DROP COLUMN email")
"""
DJANGO = """
from django.db import migrations, models

class Migration(migrations.Migration):
    operations = [
        migrations.AddField("user", "nick", models.TextField(null=True)),
        migrations.AddField(model_name="user", name="age", field=models.IntegerField()),
        migrations.AddField("user", "tier", models.TextField(default="free")),
        migrations.RemoveField(model_name="user", name="email"),
    ]
"""


def bundle(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_squawk_finds_what_breaks_the_running_version_and_only_that() -> None:
    found = findings({"migrations/002.sql": UNSAFE_SQL, "migrations/001.sql": SAFE_SQL}, "sql")
    assert [(f.file, f.line, f.rule) for f in found] == [
        ("migrations/002.sql", 2, "ban-drop-column"),
        ("migrations/002.sql", 3, "renaming-column"),
        ("migrations/002.sql", 5, "adding-required-field"),
    ]
    assert found[1].statement == "ALTER TABLE users RENAME COLUMN name TO full_name;"
    said = str(refusal(found))
    assert (
        "migrations/002.sql:2: ALTER TABLE users DROP COLUMN email; (ban-drop-column): "
        "stop reading and writing it in one release; drop it in a later one" in said
    )


def test_alembic_and_django_are_read_as_python() -> None:
    alembic = findings({"alembic/versions/7a.py": ALEMBIC}, "alembic")
    assert [(f.line, f.rule) for f in alembic] == [
        (7, "adding-required-field"), (9, "renaming-column"), (10, "ban-drop-table"),
        (1, "ban-drop-column"),  # op.execute's SQL, through squawk
    ]  # fmt: skip
    django = findings({"shop/migrations/0002.py": DJANGO}, "django")
    assert [(f.line, f.rule) for f in django] == [(7, "adding-required-field"),
                                                   (9, "ban-drop-column")]  # fmt: skip


def test_only_the_migrations_the_serving_release_lacks_are_checked(tmp_path: Path) -> None:
    spec = Migrations(kind="sql", path="migrations", run="true")
    old = bundle(tmp_path / "old.tar.gz", {"migrations/001.sql": "DROP TABLE legacy;\n"})
    new = bundle(tmp_path / "new.tar.gz", {"migrations/001.sql": "DROP TABLE legacy;\n",
                                           "migrations/002.sql": UNSAFE_SQL,
                                           "app.py": "DROP TABLE not_a_migration;"})  # fmt: skip
    assert {f.file for f in check(new, old, spec)} == {"migrations/002.sql"}
    assert check(new, None, spec) == []  # a first deploy: nothing old runs
    tested = spec.model_copy(update={"tested_against_old_schema": True})
    assert check(new, old, tested) == []
