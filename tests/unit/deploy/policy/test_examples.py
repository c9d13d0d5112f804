"""The policies shipped in examples/policies decide as their comments say, on inputs built
the way a deploy builds them; broken policies are errors (fail closed), never an allow."""

from __future__ import annotations

import datetime
import re
import sys
from pathlib import Path

import pytest

from lockgate.artifacts.manifest import AppManifest
from lockgate.deploy.envfile import EnvironmentFile
from lockgate.deploy.policy import gate
from lockgate.deploy.policy.facts import Action, Provenance
from lockgate.deploy.policy.rego import PolicyError, PolicyFile, PolicySet, read_folder

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "policies"
SIGNED = Provenance(verified=True, key_id="k1", source_commit="c" * 40)
EU_APP = AppManifest.model_validate(
    {"name": "ledger", "start": "x", "labels": {"data-classification": "eu-personal"}}
)
PLAIN_APP = AppManifest.model_validate({"name": "web", "start": "x"})


def _env(**fields: object) -> EnvironmentFile:
    return EnvironmentFile.model_validate({"app": "a", **fields})


def _decide(
    spec: EnvironmentFile,
    app: AppManifest = EU_APP,
    found: Provenance = SIGNED,
    action: Action = "deploy",
    at: float = 1_780_000_000.0,
    files: list[PolicyFile] | None = None,
) -> list[str]:
    question = gate.facts("prod", spec, app, "d" * 64, found, action, "ana", at)
    chosen = read_folder(EXAMPLES, "examples") if files is None else files
    decision = PolicySet.of(chosen).evaluate(question.document())
    return [d.message for d in decision.denials]


EU = {"name": "eu-west", "labels": {"jurisdiction": "eu"}}
US = {"name": "us-east", "labels": {"jurisdiction": "us"}}


def test_eu_personal_data_runs_and_logs_only_in_the_eu() -> None:
    assert _decide(_env(region=EU, **{"audit-log": {"region": "eu-west"}})) == []
    denied = _decide(_env(region=US, **{"audit-log": {"region": "us-east"}}))
    assert any("may not run in region us-east (jurisdiction us)" in m for m in denied)
    assert any("may not write its audit log in region us-east" in m for m in denied)
    assert any("must name where its audit log" in m for m in _decide(_env(region=EU)))
    assert _decide(_env(region=US), app=PLAIN_APP) == []  # other data may go anywhere


def test_a_host_outside_the_jurisdiction_is_refused_too() -> None:
    hosts = [{"address": "10.0.0.1", "labels": {"jurisdiction": "eu"}},
             {"address": "10.0.0.2", "labels": {"jurisdiction": "us"}}]  # fmt: skip
    spec = _env(
        region=EU, target={"type": "ssh", "hosts": hosts}, **{"audit-log": {"region": "eu-west"}}
    )
    assert _decide(spec) == [
        "ledger holds EU personal data and may not run on host 10.0.0.2 (jurisdiction us)"
    ]


def test_provenance_must_verify_and_come_from_a_listed_key(tmp_path: Path) -> None:
    eu = _env(region=EU, **{"audit-log": {"region": "eu-west"}})
    unsigned = Provenance(verified=False, problem="no provenance statement")
    assert any(
        "no verified provenance: no provenance statement" in m for m in _decide(eu, found=unsigned)
    )
    text = (EXAMPLES / "provenance.rego").read_text().replace("set()", '{"k2"}')
    listed = [PolicyFile("provenance.rego", text)]
    assert _decide(eu, files=listed) == [
        f"{'d' * 64} was signed by key k1, which is not a trusted build key"
    ]
    assert _decide(eu, found=Provenance(verified=True, key_id="k2"), files=listed) == []


def test_the_freeze_stops_deploys_to_production_but_never_rollbacks() -> None:
    prod = _env(labels={"tier": "production"})
    during = datetime.datetime(2026, 12, 24, 12, tzinfo=datetime.UTC).timestamp()
    after = datetime.datetime(2027, 1, 4, 0, 0, 1, tzinfo=datetime.UTC).timestamp()
    files = [PolicyFile("freeze.rego", (EXAMPLES / "freeze.rego").read_text())]
    assert _decide(prod, app=PLAIN_APP, at=during, files=files) == [
        "change freeze until 2027-01-04: only rollbacks and repairs"
    ]
    assert _decide(prod, app=PLAIN_APP, at=during, action="rollback", files=files) == []
    assert _decide(prod, app=PLAIN_APP, at=after, files=files) == []
    assert _decide(_env(labels={"tier": "staging"}), app=PLAIN_APP, at=during, files=files) == []


BROKEN = [
    ("package lockgate.bad\ndeny contains msg if { input.x = }\n", "bad.rego:2:"),
    ('package lockgate.bad\ndeny contains m if { m := sprintf("%d", [1 / 0]) }\n', "failed while"),
]


@pytest.mark.parametrize(("text", "said"), BROKEN)
def test_a_broken_policy_is_an_error_and_prints_nothing(
    text: str, said: str, capfd: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(PolicyError, match=re.escape(said)):
        _decide(_env(region=EU), files=[PolicyFile("policies/bad.rego", text)])
    sys.stdout.flush()
    assert capfd.readouterr().out == ""  # rego-cpp's own report never reaches the output


def test_only_lockgate_packages_are_read_and_links_are_refused(tmp_path: Path) -> None:
    (tmp_path / "k8s.rego").write_text("package kubernetes.admission\ndeny[msg] { msg = }\n")
    (tmp_path / "ours.rego").write_text("package lockgate.ours\n")
    assert [f.display for f in read_folder(tmp_path, "policies")] == ["policies/ours.rego"]
    (tmp_path / "link.rego").symlink_to(tmp_path / "ours.rego")
    with pytest.raises(PolicyError, match=r"link\.rego: a policy must be a regular file"):
        read_folder(tmp_path, "policies")


def test_no_policies_allow_everything() -> None:
    assert _decide(_env(region=US), files=[]) == []
