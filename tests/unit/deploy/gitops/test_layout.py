"""The config repository's layout and merge rules, read from real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.deploy.gitops.layout import merge_patch, read_config

DIGEST = "a" * 64


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("target", "patch", "merged"),
    [  # RFC 7386's own examples, and the ones that matter here
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),  # lists replace, never merge
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_follows_rfc_7386(target: dict, patch: dict, merged: dict) -> None:  # type: ignore[type-arg]
    assert merge_patch(target, patch) == merged


def test_an_overlay_merges_onto_the_base(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "base.yaml": "app: web\ntarget: {replicas: 3}\nstrategy: {type: canary, interval: 30}\n",
            "environments/prod.yaml": f"digest: sha256:{DIGEST}\ntarget: {{replicas: 5}}\n",
            "environments/dev.yml": f"digest: {DIGEST}\nstrategy: {{type: rolling, interval: null}}\n"
            "router: {port: 9090}\n",
            "environments/README.md": "not an environment\n",
        },
    )
    found = read_config(root)
    assert found.problems == []
    prod, dev = found.environments["prod"], found.environments["dev"]
    assert (prod.digest, prod.spec.target.replicas, prod.spec.strategy.type) == (
        DIGEST,
        5,
        "canary",
    )
    assert prod.spec.strategy.interval == 30
    assert (dev.spec.target.replicas, dev.spec.strategy.type) == (3, "rolling")
    assert "interval" not in dev.document["strategy"]  # null removed it
    assert "digest" not in dev.document
    assert found.settings.sync.self_heal is False


def test_each_problem_is_reported_where_it_was_written(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "base.yaml": "app: web\ntarget:\n  replicas: -1\n",
            "environments/a.yaml": f"digest: {DIGEST}\nstrategy: {{tpye: canary}}\n",
            "environments/b.yaml": "router: {port: 8080}\n",
            "environments/c.yaml": "digest: nothex\ntarget: {replicas: 2}\n",
            "environments/bad name.yaml": f"digest: {DIGEST}\n",
            "lockgate-gitops.yaml": "sync:\n  windows:\n    - {schedule: '61 * * * *', duration: 1h}\n",
        },
    )
    found = read_config(root, "envs/")
    said = sorted(str(p).split("\n")[0] for p in found.problems)
    assert "envs/environments/a.yaml:2:12: unknown key 'tpye'" in said
    assert (
        "envs/base.yaml:3:13: target.replicas: Input should be greater than or equal to 1" in said
    )
    assert "envs/environments/b.yaml:1:1: missing required key 'digest'" in said
    assert any(s.startswith("envs/environments/c.yaml:1:9: digest: 'nothex'") for s in said)
    assert any(
        s.startswith("envs/environments/bad name.yaml: environment 'bad name'") for s in said
    )
    assert any(s.startswith("envs/lockgate-gitops.yaml:3:") and "61" in s for s in said), said
    assert "c" not in found.environments  # its own error; a's and b's too
    assert set(found.environments) == set()


def test_a_name_that_disagrees_with_the_file_and_links_are_refused(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {"environments/prod.yaml": f"app: web\ndigest: {DIGEST}\nenvironment: staging\n"},
    )
    (root / "base.yaml").symlink_to("/etc/passwd")
    said = [str(p) for p in read_config(root).problems]
    assert any("base.yaml: symbolic links are not followed" in s for s in said)
    assert any("'staging' differs from the file's name 'prod'" in s for s in said)


def test_a_folder_without_environments_says_what_it_needs(tmp_path: Path) -> None:
    said = [str(p) for p in read_config(tmp_path, "cfg/").problems]
    assert len(said) == 1 and "no environments/ directory" in said[0]
    assert read_config(tmp_path / "missing").problems[0].message == "no such directory"


def test_a_file_whose_aliases_explode_is_refused_not_expanded(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    root = _tree(tmp_path, {"environments/x.yaml": "\n".join([*lines, "app: web", ""])})
    said = [str(p) for p in read_config(root).problems]
    assert len(said) == 1 and "more than 100000 values once its aliases are expanded" in said[0]


def test_two_environments_cannot_share_a_router_port(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "base.yaml": "app: web\nrouter: {port: 8000}\n",
            "environments/a.yaml": f"digest: {DIGEST}\n",
            "environments/b.yaml": f"digest: {DIGEST}\n",
            "environments/c.yaml": f"digest: {DIGEST}\nrouter: {{port: 8001}}\n",
        },
    )
    said = [str(p) for p in read_config(root).problems]
    assert len(said) == 1 and said[0].startswith(
        "environments/b.yaml: router port 8000 is also environment 'a''s"
    )
