"""A job's command files: what each step wrote is read once, and the files are empty again."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.engine.envfiles import CommandFiles, EnvFileError


def test_each_step_reads_only_what_it_wrote(tmp_path: Path) -> None:
    files = CommandFiles(tmp_path / "files")
    paths = files.for_step()
    paths["GITHUB_ENV"].write_text("A=1\nMULTI<<EOF\nx\ny\nEOF\n")
    paths["GITHUB_PATH"].write_text("/one\n/two\n")
    paths["GITHUB_OUTPUT"].write_text("out=v\n")
    paths["GITHUB_STEP_SUMMARY"].write_text("# done")
    written = files.take()
    assert written.env == {"A": "1", "MULTI": "x\ny"} and written.paths == ["/one", "/two"]
    assert written.outputs == {"out": "v"} and written.summary == "# done\n"
    again = files.take()
    assert (again.env, again.paths, again.outputs, again.summary) == ({}, [], {}, "")


def test_a_malformed_line_is_an_error_naming_the_file(tmp_path: Path) -> None:
    files = CommandFiles(tmp_path / "files")
    files.for_step()["GITHUB_OUTPUT"].write_text("no equals sign\n")
    with pytest.raises(EnvFileError, match=r"\$GITHUB_OUTPUT: invalid line .no equals sign."):
        files.take()
