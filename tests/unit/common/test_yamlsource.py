"""Reading lockgate's own YAML files: the quick libyaml path gives what the position-keeping
reader gives, and leaves everything else (errors, odd files) to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.common.errors import UserError
from lockgate.common.yamlsource import load_yaml, quick_mapping
from lockgate.workflow.loader import plain

SETTINGS = """
on: yes
cache: {max-size: 1GB, remote: null}
jobs:
  unit: {inputs: ["src/**", 'tests/**'], env: [CI]}
  1: {cache: false}
when: 2001-12-14
base: &base {timeout: 0o10}
deploy:
  <<: *base
  region: eu
"""


def test_the_quick_reader_gives_what_the_position_keeping_one_gives(tmp_path: Path) -> None:
    path = tmp_path / "lockgate.yml"
    path.write_text(SETTINGS)
    quick = quick_mapping(path, "lockgate.yml")
    assert quick is not None
    assert plain(quick) == plain(load_yaml(path, "lockgate.yml"))
    assert plain(quick)["on"] == "yes" and plain(quick)["deploy"] == {"timeout": 8, "region": "eu"}


@pytest.mark.parametrize(
    "text",
    ["a: 1\na: 2\n", "- a list\n", "a: !custom 1\n", "a: [unclosed\n", "", "\udcff: x\n"],
)
def test_anything_but_a_plain_mapping_is_left_to_the_full_reader(tmp_path: Path, text: str) -> None:
    path = tmp_path / "lockgate.yml"
    path.write_text(text, errors="surrogateescape")
    assert quick_mapping(path, "lockgate.yml") is None


def test_aliases_are_bounded_on_the_quick_path_too(tmp_path: Path) -> None:
    laughs = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in "bcdefg":
        previous = chr(ord(level) - 1)
        laughs.append(f"{level}: &{level} [{', '.join(['*' + previous] * 10)}]")
    path = tmp_path / "lockgate.yml"
    path.write_text("\n".join(laughs) + "\n")
    with pytest.raises(UserError, match="aliases"):
        quick_mapping(path, "lockgate.yml")
