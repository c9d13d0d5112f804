"""Schema migrations in a rollout, against a real PostgreSQL with two real versions of an app
reading it: the new migration runs once, before the first new instance starts, and the old
version keeps answering through the rolling rollout; a migration the old version cannot live
with (a dropped column) is refused with its statement and the expand/contract way; one that
fails stops the rollout before any instance changes."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from ..conftest import lockgate
from .fleet import Fleets, build, deploy, deploy_under_load, status
from .test_store import postgres_url

__all__ = ["postgres_url"]  # the fixture
pytestmark = pytest.mark.integration

MIGRATE = """import os, pathlib, psycopg
with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as db:
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY)")
    done = {row[0] for row in db.execute("SELECT name FROM schema_migrations")}
    for path in sorted(pathlib.Path("migrations").glob("*.sql")):
        if path.name not in done:
            with db.transaction():
                db.execute(path.read_text())
                db.execute("INSERT INTO schema_migrations VALUES (%s)", (path.name,))
            print("applied", path.name)
"""
APP = """import http.server, os, psycopg, sys
URL, VERSION, READS = os.environ["DATABASE_URL"], {version!r}, {reads!r}
with psycopg.connect(URL) as db:  # this version needs its columns before it starts
    db.execute(f"SELECT {{READS}} FROM users LIMIT 1")

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with psycopg.connect(URL) as db:
            rows = db.execute(f"SELECT {{READS}} FROM users").fetchall()
        body = f"{{VERSION}} read {{len(rows)}} users".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""
MANIFEST = """name: hello
start: python3 app.py
readiness: /
grace-seconds: 1
migrations:
  kind: sql
  path: migrations
  run: python3 migrate.py
"""
MIGRATIONS = {
    "001_users.sql": "CREATE TABLE users (id bigserial PRIMARY KEY, name text, email text);\n"
    "INSERT INTO users (name, email) VALUES ('ada', 'ada@example.com');\n",
    "002_nickname.sql": "ALTER TABLE users ADD COLUMN nickname text;\n",
}


def version(root: Path, name: str, reads: str, migrations: list[str], extra: str = "") -> Path:
    app = root / name
    (app / "migrations").mkdir(parents=True)
    (app / "lockgate-app.yaml").write_text(MANIFEST)
    (app / "migrate.py").write_text(MIGRATE)
    (app / "app.py").write_text(APP.format(version=name, reads=reads))
    for migration in migrations:
        (app / "migrations" / migration).write_text(MIGRATIONS.get(migration, extra))
    return app


def test_migrations_run_once_before_new_instances_and_unsafe_ones_are_refused(
    fleets: Fleets, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(database, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS users, schema_migrations")
    monkeypatch.setenv("DATABASE_URL", database)  # the deployer's, so its instances' and agent's
    repo, port = fleets(2, "rolling")
    v1 = build(repo, version(tmp_path, "v1", "id, name, email", ["001_users.sql"]))
    code, report = deploy(repo, v1)
    assert code == 0, report
    v2 = build(repo, version(tmp_path, "v2", "id, name, nickname",
                             ["001_users.sql", "002_nickname.sql"]))  # fmt: skip
    load = deploy_under_load(repo, port, v2)  # v1 keeps reading while v2 rolls out
    bodies = {body.split(" read ")[0] for _, code, body in load.results if code == 200}
    assert bodies == {"v1", "v2"}  # both versions answered, on one schema, with no error
    with psycopg.connect(database) as db:
        applied = [row[0] for row in db.execute("SELECT name FROM schema_migrations")]
    assert applied == ["001_users.sql", "002_nickname.sql"]  # each once
    served = status(repo)["instances"]
    assert {i["digest"] for i in served} == {v2}
    drop = "ALTER TABLE users DROP COLUMN email;\n"
    v3 = build(repo, version(tmp_path, "v3", "id, name, nickname",
                             ["001_users.sql", "002_nickname.sql", "003_drop.sql"], drop))  # fmt: skip
    refused = lockgate("deploy", "env.yaml", "--artifact", v3, cwd=repo)
    assert refused.returncode != 0
    assert (
        "migrations/003_drop.sql:1: ALTER TABLE users DROP COLUMN email; (ban-drop-column)"
        in refused.stderr
        and "drop it in a later one" in refused.stderr
    )
    broken = "ALTER TABLE missing_table ADD COLUMN extra text;\n"
    v4 = build(repo, version(tmp_path, "v4", "id, name, nickname",
                             ["001_users.sql", "002_nickname.sql", "004_broken.sql"], broken))  # fmt: skip
    failed = lockgate("deploy", "env.yaml", "--artifact", v4, cwd=repo)
    assert failed.returncode != 0
    assert "the migrations failed" in failed.stderr and "missing_table" in failed.stderr
    after = status(repo)
    assert {i["digest"] for i in after["instances"]} == {v2}  # nothing changed
    assert json.dumps(after).count(v4) == 0
    with psycopg.connect(database) as db:
        columns = {row[0] for row in db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'")}  # fmt: skip
    assert "email" in columns
