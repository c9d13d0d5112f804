"""The store keeps runs, jobs, steps and logs, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.common.ports import free_port
from lockgate.store import Store
from lockgate.store.records import Conclusion, Status

from ..conftest import need

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    initdb = PG_BIN / "initdb"
    need(initdb.exists(), f"PostgreSQL server binaries not found in {PG_BIN}")
    need(shutil.which("runuser") is not None or os.geteuid() != 0, "runuser is missing")
    # initdb refuses root: the server runs as `postgres` in a directory it owns.
    root = Path(tempfile.mkdtemp(prefix="lockgate-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data = root / "data"
    port = free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*as_postgres, str(initdb), "-D", str(data), "-U", "lockgate", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    subprocess.run(
        [
            *as_postgres,
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(data / "log"),
            "-o",
            options,
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://lockgate@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        return Store(f"sqlite:///{tmp_path / 'lockgate.db'}")
    url = request.getfixturevalue("postgres_url")
    store = Store(url)
    with store.engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("TRUNCATE runs RESTART IDENTITY CASCADE"))
    return store


def _run(store: Store, **extra: object) -> int:
    fields = dict(
        workflow="ci",
        workflow_file=".github/workflows/ci.yml",
        event="push",
        sha="a" * 40,
        ref="refs/heads/main",
        branch="main",
        dirty=True,
        actor="me",
        repo_dir="/repo",
    )
    fields.update(extra)
    return store.create_run(**fields)


def test_round_trip_of_a_run(store: Store) -> None:
    run_id = _run(store)
    job = store.create_job(
        run_id,
        key="test (3.11)",
        job_id="test",
        name="test (3.11)",
        matrix={"python": "3.11"},
        status="queued",
    )
    step = store.create_step(job, 1, "Run pytest")
    store.add_logs([(job, 1, time.time(), "collecting"), (job, 1, time.time(), "1 passed")])
    store.finish_step(
        step,
        [(job, 1, time.time(), "done")],
        status="completed",
        outcome="success",
        conclusion="success",
        exit_code=0,
        finished_at=time.time(),
        outputs={"x": "1"},
    )
    store.add_annotation(job, 1, level="error", message="boom", file="a.py", line=3)
    store.update_job(job, status="completed", conclusion="success", outputs={"o": "v"})
    store.finish_run(run_id, Conclusion.SUCCESS)
    run = store.get_run(run_id)
    assert run is not None
    assert (run.status, run.conclusion, run.dirty) == (Status.COMPLETED, Conclusion.SUCCESS, True)
    (job_row,) = run.jobs
    assert job_row.matrix == {"python": "3.11"} and job_row.outputs == {"o": "v"}
    (step_row,) = job_row.steps
    assert step_row.outputs == {"x": "1"} and step_row.outcome is Conclusion.SUCCESS
    assert job_row.annotations[0].where() == "a.py:3"
    assert [entry.line for entry in store.logs(run_id, ["test"])] == [
        "collecting",
        "1 passed",
        "done",
    ]
    assert [r.id for r in store.list_runs()] == [run_id]
    shown = run.as_json()  # the shape `show -o json` and the API give
    assert shown["jobs"][0]["steps"][0]["conclusion"] == "success" and "artifacts" in shown


def test_a_batch_is_one_transaction_seen_whole_or_not_at_all(store: Store) -> None:
    run_id = _run(store)
    with store.batch():
        job = store.create_job(run_id, key="a", job_id="a", name="a", status="running")
        store.add_finished_step(job, [(job, 1, 1.0, "restored")], number=1, name="s",
                                status="completed", conclusion="success")  # fmt: skip
        other = Store(store.url)  # another connection sees nothing until the batch commits
        assert [j.id for j in other.get_run(run_id).jobs] == []  # type: ignore[union-attr]
    (seen,) = other.get_run(run_id).jobs  # type: ignore[union-attr]
    assert [s.name for s in seen.steps] == ["s"]
    assert [e.line for e in other.logs(run_id, ["a"])] == ["restored"]
    with pytest.raises(RuntimeError), store.batch():
        store.create_job(run_id, key="b", job_id="b", name="b", status="running")
        raise RuntimeError("a restore that fails half way")
    assert [j.job_id for j in store.get_run(run_id).jobs] == ["a"]  # type: ignore[union-attr]


def test_run_of_a_dead_process_is_marked_interrupted(store: Store) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = _run(store, pid=dead.pid)
    live = _run(store)  # this process: still running
    job = store.create_job(stale, key="a", job_id="a", name="a", status="running")
    assert store.mark_interrupted() == [(stale, dead.pid)]
    stale_run, live_run = store.get_run(stale), store.get_run(live)
    assert stale_run is not None and live_run is not None
    assert stale_run.status is Status.INTERRUPTED and live_run.status is Status.RUNNING
    assert [(j.id, j.status) for j in stale_run.jobs] == [(job, Status.INTERRUPTED)]


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    first = Store(url)
    _run(first)
    second = Store(url)
    assert len(second.list_runs()) == 1


def test_the_known_head_is_the_newest_migration(tmp_path: Path) -> None:
    """A store at the head opens without running Alembic: the constant must follow the files."""
    from sqlalchemy import text

    from lockgate.store.database import HEAD_REVISION, MIGRATIONS

    newest = max(p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9]*.py"))
    assert newest == HEAD_REVISION
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == newest


def _schema(url: str) -> dict[str, object]:
    """Every table's columns, keys, indexes and constraints, as the database reports them."""
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url)
    try:
        seen = inspect(engine)
        found: dict[str, object] = {}
        for table in sorted(seen.get_table_names()):
            found[table] = {
                # by name: a column a later migration added comes last there, not in tables.py
                "columns": sorted((c["name"], str(c["type"]), c["nullable"], c.get("default"))
                                  for c in seen.get_columns(table)),
                "primary": seen.get_pk_constraint(table)["constrained_columns"],
                "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                                  for i in seen.get_indexes(table)),
                "unique": sorted((tuple(u["column_names"])) for u in seen.get_unique_constraints(table)),
                "foreign": sorted((tuple(f["constrained_columns"]), f["referred_table"])
                                  for f in seen.get_foreign_keys(table)),
            }  # fmt: skip
        return found
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
)
def test_a_new_store_has_the_schema_the_migrations_make(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A new store is made from the tables' description in one go (a fifth of the time of
    running every migration): it must be the very schema the migrations make."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    from lockgate.store.database import MIGRATIONS

    if kind == "sqlite":
        migrated, created = (f"sqlite:///{tmp_path / n}" for n in ("migrated.db", "created.db"))
    else:
        server = request.getfixturevalue("postgres_url")
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in ("migrated", "created"):
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
                conn.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        migrated, created = (server.rsplit("/", 1)[0] + f"/{n}" for n in ("migrated", "created"))
    engine = create_engine(migrated)
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    engine.dispose()
    Store(created)
    assert _schema(created) == _schema(migrated)
