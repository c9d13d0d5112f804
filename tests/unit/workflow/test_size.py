"""GitHub's size estimate of a read workflow (the runner's TemplateMemory measure)."""

from __future__ import annotations

from lockgate.workflow.problems import Limits
from lockgate.workflow.size import OBJECT, STRING, file_bytes, text_bytes, token_bytes
from lockgate.workflow.tokens import read_tokens
from lockgate.workflow.validate import validate

CALLER = """on: push
jobs:
  a: {uses: ./.github/workflows/called.yml}
  b: {uses: ./.github/workflows/called.yml}
"""
CALLED = "on: workflow_call\njobs:\n  j: {runs-on: x, steps: [{run: echo}]}\n"


def test_strings_count_in_utf16_code_units_as_dotnet_does() -> None:
    assert text_bytes("ab") == STRING + 4
    assert text_bytes("é") == STRING + 2  # one code unit
    assert text_bytes("😀") == STRING + 4  # a surrogate pair


def test_every_token_is_an_object_and_every_string_a_string_too() -> None:
    root = read_tokens("k: [1, true, v]\n").root
    assert root is not None
    # the mapping, its key, the sequence, two non-strings and one string
    expected = OBJECT * 6 + text_bytes("k") + text_bytes("v")
    assert token_bytes(root) == expected
    assert file_bytes("f.yml", root) == expected + text_bytes("f.yml")


def test_a_called_workflow_counts_again_at_each_job_calling_it() -> None:
    root, called = read_tokens(CALLER).root, read_tokens(CALLED).root
    assert root is not None and called is not None
    caller = file_bytes("w.yml", root)
    once = file_bytes("./.github/workflows/called.yml", called)
    room = Limits(max_result_size=caller + once)  # room for one call, not two
    got = validate(CALLER, room, {"./.github/workflows/called.yml": CALLED}.get, "w.yml")
    assert [(p.line, p.message) for p in got.problems] == [
        (4, "Error from called workflow ./.github/workflows/called.yml: "
            "Maximum object size exceeded"),
    ]  # fmt: skip
    roomy = Limits(max_result_size=caller + 2 * once)
    assert not validate(
        CALLER, roomy, {"./.github/workflows/called.yml": CALLED}.get, "w.yml"
    ).problems
