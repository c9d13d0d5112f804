"""Only the secrets a job names go to its worker, and what a worker sends back is typed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lockgate.runners.payload import Records, secrets_used

SECRETS = {"GITHUB_TOKEN": "t", "DEPLOY_KEY": "d", "NPM": "n", "OTHER": "o"}


def test_a_job_gets_the_secrets_it_names_and_the_github_token() -> None:
    job = {"steps": [{"run": "deploy ${{ secrets.deploy_key }}"},
                     {"with": {"token": "${{ secrets['NPM'] }}"}}]}  # fmt: skip
    assert secrets_used(job, None, SECRETS) == {"GITHUB_TOKEN": "t", "DEPLOY_KEY": "d", "NPM": "n"}
    assert secrets_used({"steps": [{"run": "true"}]}, {"K": "${{ secrets.OTHER }}"}, SECRETS) == {
        "GITHUB_TOKEN": "t", "OTHER": "o"}  # fmt: skip


def test_all_secrets_go_where_a_job_takes_them_all() -> None:
    assert secrets_used({"steps": [{"run": "echo '${{ toJSON(secrets) }}'"}]}, None,
                        SECRETS) == SECRETS  # fmt: skip
    assert secrets_used({"uses": "./.github/workflows/x.yml", "secrets": "inherit"}, None,
                        SECRETS) == SECRETS  # fmt: skip


def test_records_a_worker_sends_are_checked() -> None:
    sent = Records.model_validate({"records": [
        {"op": "create_step", "number": 1, "name": "build"},
        {"op": "add_logs", "logs": [[1, 1.5, "hello"]]},
    ]})  # fmt: skip
    assert [type(r).__name__ for r in sent.records] == ["CreateStep", "AddLogs"]
    with pytest.raises(ValidationError):
        Records.model_validate({"records": [{"op": "create_run"}]})
    with pytest.raises(ValidationError):  # a job's fields only: not its run, not its row
        Records.model_validate({"records": [{"op": "update_job", "fields": {"run_id": 2}}]})
