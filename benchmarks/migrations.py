"""The schema check a rollout makes before anything changes, on a 200-migration history:
the release adds one migration to the 199 the serving release has (both bundles read, the new
migration linted), and a release whose 200 are all new to the serving one. The baseline, in
the same run: squawk alone on that one migration. Median of 5 each.

Usage: python benchmarks/migrations.py
"""

from __future__ import annotations

import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from lockgate.artifacts.manifest import Migrations
from lockgate.deploy.migrations import check

HISTORY, TIMES = 200, 5
SPEC = Migrations(kind="sql", path="migrations", run="true")


def migration(n: int) -> str:
    return (f"CREATE TABLE IF NOT EXISTS t{n} (id bigserial PRIMARY KEY, name text);\n"
            f"ALTER TABLE t{n} ADD COLUMN IF NOT EXISTS note_{n} text;\n"
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS t{n}_name ON t{n} (name);\n")  # fmt: skip


def bundle(path: Path, count: int) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for n in range(count):
            data = migration(n).encode()
            info = tarfile.TarInfo(f"migrations/{n:04d}_step.sql")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def timed(action: object) -> float:
    runs = []
    for _ in range(TIMES):
        began = time.perf_counter()
        action()  # type: ignore[operator]
        runs.append(time.perf_counter() - began)
    return statistics.median(runs)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="lockgate-migrations-") as tmp:
        root = Path(tmp)
        new, old = bundle(root / "new.tar.gz", HISTORY), bundle(root / "old.tar.gz", HISTORY - 1)
        empty = bundle(root / "empty.tar.gz", 0)
        one = root / "one.sql"
        one.write_text(migration(HISTORY - 1))
        squawk = str(Path(sys.executable).parent / "squawk")
        alone = timed(lambda: subprocess.run([squawk, "--reporter", "json", str(one)],
                                             capture_output=True))  # fmt: skip
        added = timed(lambda: check(new, old, SPEC))
        everything = timed(lambda: check(new, empty, SPEC))
    print(f"squawk alone on the new migration (baseline): median {alone * 1000:.0f} ms")
    print(
        f"the check, one new migration of {HISTORY}: median {added * 1000:.0f} ms; "
        f"ratio {added / alone:.2f}"
    )
    print(f"the check, all {HISTORY} new: median {everything * 1000:.0f} ms")


if __name__ == "__main__":
    main()
