"""A label a policy would not see because of a typo is caught before the policies are asked."""

from __future__ import annotations

from pathlib import Path

from lockgate.deploy.policy.facts import Host, PolicyInput, Provenance, Region, Release
from lockgate.deploy.policy.labels import mentioned, typos
from lockgate.deploy.policy.rego import read_folder

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "policies"


def _question(region: dict[str, str], host: dict[str, str], release: dict[str, str]) -> PolicyInput:
    where = Region("eu-west", region, [Host("10.0.0.1", host)])
    return PolicyInput(
        "deploy", "ana", 0.0, "prod", {"tier": "production"},
        Release("ledger", "d" * 64, release, Provenance(verified=True)), [where], None,
    )  # fmt: skip


def test_the_shipped_policies_mention_the_labels_they_read() -> None:
    found = mentioned(read_folder(EXAMPLES, "examples"))
    assert found["jurisdiction"] == "examples/residency.rego"
    assert "data-classification" in found


def test_a_near_miss_is_named_with_the_label_meant() -> None:
    question = _question(
        {"jurisdicton": "eu"}, {"jurisdiction": "eu"}, {"data-clasification": "eu-personal"}
    )
    found = [str(t) for t in typos(question, read_folder(EXAMPLES, "examples"))]
    assert found == [
        "label 'data-clasification' of the release of ledger is read by no policy; "
        "examples/residency.rego reads 'data-classification': fix the label's name (a policy "
        "would not see it)",
        "label 'jurisdicton' of region eu-west is read by no policy; examples/residency.rego "
        "reads 'jurisdiction': fix the label's name (a policy would not see it)",
    ]


def test_labels_no_policy_reads_and_no_near_miss_pass() -> None:
    question = _question({"jurisdiction": "eu", "zone": "a"}, {"rack": "7"}, {"team": "pay"})
    assert typos(question, read_folder(EXAMPLES, "examples")) == []
    assert typos(_question({"jurisdicton": "eu"}, {}, {}), []) == []
