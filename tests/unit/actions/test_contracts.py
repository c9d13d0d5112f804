"""The built-ins' contracts: the docs page is what `lockgate actions` prints, and a step hears
about inputs the action lacks or lockgate ignores, as GitHub's runner would say it."""

from __future__ import annotations

from pathlib import Path

from lockgate.actions.contracts import CHECKOUT, CONTRACTS, DOWNLOAD_ARTIFACT, input_notes, markdown
from lockgate.actions.resolve import BUILTINS

DOCS = Path(__file__).resolve().parents[3] / "docs" / "builtin-actions.md"


def render(text: str) -> str:
    return {"${{ github.repository }}": "me/repo", "${{ github.run_id }}": "7"}.get(text, text)


def test_every_builtin_has_a_contract_and_the_docs_are_its_tables() -> None:
    assert set(CONTRACTS) == set(BUILTINS)
    assert DOCS.read_text() == markdown(), "run: lockgate actions > docs/builtin-actions.md"


def test_an_input_the_action_lacks_gets_githubs_warning() -> None:
    said = input_notes(CHECKOUT, {"path": "x", "shallow": "yes", "depth": "1"}, render)
    assert said == [
        "::warning::Unexpected input(s) 'shallow', 'depth', valid inputs are "
        f"{list(CHECKOUT.inputs)}"
    ]


def test_an_ignored_input_is_named_only_when_it_asks_for_something_else() -> None:
    assert input_notes(CHECKOUT, {"lfs": "false", "submodules": "False"}, render) == []
    assert input_notes(CHECKOUT, {"lfs": "true"}, render) == [
        "::notice::actions/checkout: input 'lfs' is ignored here: LFS files are as the working "
        "tree has them"
    ]
    # a default written as an expression is compared with its value in the run
    assert input_notes(DOWNLOAD_ARTIFACT, {"repository": "me/repo", "run-id": "7"}, render) == []
    assert len(input_notes(DOWNLOAD_ARTIFACT, {"repository": "you/repo"}, render)) == 1


def test_inputs_honoured_in_effect_say_nothing() -> None:
    given = {"fetch-depth": "0", "persist-credentials": "false", "token": "t", "clean": "false"}
    assert input_notes(CHECKOUT, given, render) == []
