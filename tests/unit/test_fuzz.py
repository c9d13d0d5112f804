"""Structure-aware fuzzing: generated workflows, expressions, environment files and archives
give a result or a clear error (never a traceback), and nothing is written outside the
directories allowed. LOCKGATE_FUZZ_EXAMPLES sets the cases per property (benchmarks/fuzz.py
runs 2,500 each, 10,000 in all)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockgate.common.archive import UnsafeArchive, unpack
from lockgate.common.errors import UserError
from lockgate.deploy.envfile import load_environment
from lockgate.engine.matrix import MatrixError, expand
from lockgate.engine.plan import job_needs, stages, topological_order
from lockgate.workflow.expressions import ExpressionError, evaluate
from lockgate.workflow.loader import load_workflow
from lockgate.workflow.validate import validate

EXAMPLES = int(os.environ.get("LOCKGATE_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

WORKFLOW_KEYS = ["on", "jobs", "name", "env", "concurrency", "permissions", "defaults", "run-name"]
JOB_KEYS = ["runs-on", "steps", "needs", "strategy", "if", "env", "outputs", "concurrency",
            "container", "services", "uses", "with", "secrets", "timeout-minutes", "name"]  # fmt: skip
STEP_KEYS = ["run", "uses", "with", "id", "if", "shell", "env", "name", "working-directory"]
WORDS = ["push", "pull_request", "ubuntu-latest", "${{ matrix.x }}", "${{ github.ref }}",
         "${{", "}}", "a", "b", "../x", "[/]", "include", "exclude", "3.12", "true", "", " "]  # fmt: skip

scalars = st.one_of(
    st.sampled_from(WORDS), st.text(max_size=12), st.integers(-3, 300), st.booleans(), st.none()
)


def keyed(keys: list[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(
        st.one_of(st.sampled_from(keys), st.text(max_size=6)), values, max_size=6
    )


anything = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
steps = st.lists(keyed(STEP_KEYS, anything), max_size=4)
matrices = st.dictionaries(
    st.one_of(st.sampled_from(["include", "exclude", "os", "py"]), st.text(max_size=4)),
    st.lists(
        st.one_of(scalars, st.dictionaries(st.sampled_from(["os", "py", "x"]), scalars)), max_size=5
    ),
    max_size=4,
)
jobs = keyed(JOB_KEYS, st.one_of(anything, steps, st.fixed_dictionaries({"matrix": matrices})))
workflows = st.fixed_dictionaries(
    {
        "on": st.one_of(st.sampled_from(["push", "pull_request"]), anything),
        "jobs": st.dictionaries(st.sampled_from(["a", "b", "c", "my.job", "_x"]), jobs, max_size=4),
    },
    optional={k: anything for k in WORKFLOW_KEYS if k not in ("on", "jobs")},
)


def _outside_snapshot(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*")}


@FUZZ
@given(workflows)
def test_generated_workflows_load_or_fail_clearly(workflow: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "wf.yml"
        path.write_text(json.dumps(workflow))  # JSON is YAML 1.2
        try:
            loaded = load_workflow(path, "wf.yml")
        except UserError:
            return
        needs = job_needs(loaded)
        with contextlib.suppress(UserError):
            stages(needs, topological_order(needs, "wf.yml"))
        for job in loaded.model.jobs.values():
            matrix = job.strategy.matrix if job.strategy else None
            if isinstance(matrix, dict):
                with contextlib.suppress(MatrixError):
                    expand(matrix)


@FUZZ
@given(st.text(alphabet="{}$[]()'\",.!=<>&|*:# \nabcxyz019-_\\", max_size=60))
def test_generated_yaml_text_never_crashes_the_validator(text: str) -> None:
    validate(text)


EXPRESSION_PARTS = ["github", ".", "ref", "(", ")", "'", "x'", "==", "!=", "&&", "||", "!", "[",
                    "]", "*", "1", "0x1F", "1e3", "null", "true", "fromJSON", "toJSON", "format",
                    "contains", "startsWith", "join", ",", "'{0}'", " ", "matrix", "secrets",
                    "hashFiles", "'[[[1]]]'", "-", "{", "}"]  # fmt: skip


@FUZZ
@given(st.lists(st.sampled_from(EXPRESSION_PARTS), max_size=20))
def test_generated_expressions_evaluate_or_fail_clearly(parts: list[str]) -> None:
    contexts = {"github": {"ref": "refs/heads/main"}, "matrix": {"x": [1, {"a": "b"}]}}
    with contextlib.suppress(ExpressionError):
        evaluate("".join(parts), contexts)


ENV_KEYS = ["app", "environment", "target", "router", "strategy", "provenance", "replicas",
            "type", "instances", "port", "max-surge", "steps", "analysis"]  # fmt: skip


@FUZZ
@given(keyed(ENV_KEYS, st.one_of(anything, keyed(ENV_KEYS, anything))))
def test_generated_environment_files_load_or_fail_clearly(spec: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "env.yaml"
        path.write_text(json.dumps(spec))
        with contextlib.suppress(UserError):
            load_environment(path)


NAMES = ["a", "b", "..", ".", "", "/", "a/b", "../x", "/tmp/x", "l", "l/x", "d/", "x" * 300]
members = st.lists(
    st.tuples(
        st.lists(st.sampled_from(NAMES), min_size=1, max_size=4).map("/".join),
        st.sampled_from(["f", "d", "s", "h", "p"]),
        st.lists(st.sampled_from(NAMES), max_size=4).map("/".join),
    ),
    max_size=6,
)


@FUZZ
@given(members)
def test_generated_archives_never_write_outside(spec: list[tuple[str, str, str]]) -> None:
    kinds = {"f": tarfile.REGTYPE, "d": tarfile.DIRTYPE, "s": tarfile.SYMTYPE,
             "h": tarfile.LNKTYPE, "p": tarfile.FIFOTYPE}  # fmt: skip
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, kind, link in spec:
            info = tarfile.TarInfo(name or "x")
            info.type, info.linkname, info.size = kinds[kind], link, 1 if kind == "f" else 0
            tar.addfile(info, io.BytesIO(b"x") if kind == "f" else None)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "sentinel").mkdir()
        before = _outside_snapshot(root / "sentinel")
        with contextlib.suppress(UnsafeArchive):
            unpack(buffer.getvalue(), root / "inside" / "dest")
        assert _outside_snapshot(root / "sentinel") == before
        assert {p.name for p in root.iterdir()} <= {"sentinel", "inside"}
        inside = root / "inside"
        assert not inside.exists() or {p.name for p in inside.iterdir()} <= {"dest"}
