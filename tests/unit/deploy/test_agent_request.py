"""What a deploy tells the agent it starts is a validated record, refused when it is not one."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from lockgate.deploy.agent import AgentRequest, main


def test_a_request_names_a_store_and_a_sane_period() -> None:
    assert AgentRequest.model_validate_json('{"store_url": "sqlite:///x"}').probe_period > 0
    for wrong in ('{"store_url": ""}', '{"store_url": "x", "probe_period": 0}',
                  '{"store_url": "x", "shell": "rm -rf /"}'):  # fmt: skip
        with pytest.raises(ValidationError):
            AgentRequest.model_validate_json(wrong)


def test_an_unreadable_request_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = tmp_path / "request.json"
    request.write_text("{not json")
    assert main(["--repo", str(tmp_path), "--request", str(request)]) == 2
    said = capsys.readouterr().err
    assert "unreadable agent request" in said and "Traceback" not in said
