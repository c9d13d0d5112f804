"""Workflow commands read into effects, as GitHub's runner reads them."""

from __future__ import annotations

from lockgate.engine.commands import (
    AddPath,
    Annotate,
    CommandReader,
    Mask,
    Print,
    SaveState,
    SetEnv,
    SetOutput,
    parse_command,
)
from lockgate.engine.state import Annotation


def test_ordinary_lines_and_groups_are_printed() -> None:
    reader = CommandReader()
    assert reader.read("hello") == [Print("hello")]
    assert reader.read("::group::Build") == [Print("▸ Build")]
    assert reader.read("::endgroup::") == []
    assert reader.read("::unknown-command::x") == [Print("::unknown-command::x")]


def test_annotations_carry_their_escaped_properties() -> None:
    (effect,) = CommandReader().read("::error file=a%2Cb.py,line=3,col=x,title=T::broke%0Ahere")
    assert effect == Annotate(Annotation("error", "broke\nhere", "a,b.py", 3, None, "T"))


def test_masks_outputs_and_state() -> None:
    reader = CommandReader()
    assert reader.read("::add-mask::s3cret") == [Mask("s3cret")]
    assert reader.read("::save-state name=pid::42") == [SaveState("pid", "42")]
    set_output = reader.read("::set-output name=v::1")
    assert set_output[0] == SetOutput("v", "1") and "deprecated" in str(set_output[1])


def test_stop_commands_prints_everything_until_its_token() -> None:
    reader = CommandReader()
    assert reader.read("::stop-commands::pause-42") == []
    assert reader.read("::add-mask::not-a-command") == [Print("::add-mask::not-a-command")]
    assert reader.read("::pause-42::") == []
    assert reader.read("::add-mask::now") == [Mask("now")]


def test_set_env_and_add_path_only_when_allowed() -> None:
    (refused,) = CommandReader().read("::set-env name=A::1")
    assert isinstance(refused, Annotate) and "disabled" in refused.annotation.message
    allowed = CommandReader(unsecure=True)
    assert allowed.read("::set-env name=A::1") == [SetEnv("A", "1")]
    assert allowed.read("::add-path::/opt/bin") == [AddPath("/opt/bin")]
    assert allowed.read("::set-env::no-name") == []


def test_debug_lines_only_in_debug_mode() -> None:
    assert CommandReader().read("::debug::x") == []
    assert CommandReader(debug=True).read("::debug::x") == [Print("##[debug]x")]


def test_parse_command_needs_a_name_and_a_closing_pair() -> None:
    assert parse_command("::") is None and parse_command(":: ::x") is None
    assert parse_command("::warning") is None
    command = parse_command("::warning ::careful")
    assert command is not None and (command.name, command.message) == ("warning", "careful")
