"""A multi-region environment file: what it may say, and the environment each region runs as."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from lockgate.deploy.envfile import EnvironmentFile
from lockgate.deploy.policy import gate
from lockgate.deploy.regions import region_documents, region_environment

REGIONS = [
    {"name": "eu-west", "labels": {"jurisdiction": "eu"}, "target": {"replicas": 3},
     "router": {"port": 9001}},
    {"name": "eu-central", "labels": {"jurisdiction": "eu"}, "router": {"port": 9002}},
    {"name": "us-east", "labels": {"jurisdiction": "us"}, "router": {"port": 9003}},
]  # fmt: skip
WAVES = [
    {"regions": ["eu-west"], "instances": 1, "bake": "30m"},
    {"regions": ["eu-west"], "bake": 60},
    {"regions": ["eu-central", "us-east"], "bake": "4h"},
]


def _spec(**fields: Any) -> EnvironmentFile:
    document = {"app": "shop", "regions": REGIONS, "global-router": {"port": 9000}}
    return EnvironmentFile.model_validate({**document, "waves": WAVES, **fields})


def test_waves_read_with_their_bakes() -> None:
    spec = _spec()
    assert [w.bake_seconds() for w in spec.wave_plan()] == [1800, 60, 4 * 3600]
    assert spec.region_names() == ["eu-west", "eu-central", "us-east"]


def test_without_waves_a_release_goes_region_by_region() -> None:
    spec = _spec(waves=[])
    assert [w.regions for w in spec.wave_plan()] == [["eu-west"], ["eu-central"], ["us-east"]]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"waves": [{"regions": ["eu-west", "mars"]}]}, "wave 1 names region 'mars'"),
        ({"waves": [{"regions": []}]}, "at least 1 item"),
        ({"waves": WAVES[:2]}, "region 'eu-central' is in no wave"),
        ({"waves": [WAVES[0], *WAVES[2:]]}, "region 'eu-west' is in no wave"),
        ({"waves": [{"regions": ["eu-west", "us-east"], "instances": 1}]}, "wave of one region"),
        ({"waves": [{"regions": ["eu-west"], "instances": 3}]}, "fewer than region eu-west's 3"),
        (
            {"waves": [WAVES[1], WAVES[1], WAVES[2]]},
            "wave 2: region eu-west was rolled out in a wave before",
        ),
        ({"waves": [{"regions": ["eu-west"], "bake": "soon"}, *WAVES[1:]]}, "not a duration"),
        ({"global-router": None}, "needs a `global-router"),
        ({"global-router": {"port": 9001}}, "ports of their own"),
        ({"target": {"replicas": 2}}, "move target into the regions"),
        ({"regions": [REGIONS[0], REGIONS[0]]}, "region 'eu-west' is listed twice"),
        ({"audit-log": {"region": "ap-south"}}, "audit-log names region 'ap-south'"),
    ],
)
def test_a_wrong_region_or_wave_is_refused_with_where(change: dict[str, Any], said: str) -> None:
    with pytest.raises(ValidationError, match=said):
        _spec(**change)


def test_waves_need_regions() -> None:
    with pytest.raises(ValidationError, match="for an environment with `regions`"):
        EnvironmentFile.model_validate({"app": "a", "waves": WAVES})


def test_each_region_runs_as_an_environment_of_its_own() -> None:
    spec = _spec(**{"audit-log": {"region": "eu-west"}, "labels": {"tier": "production"}})
    found = {
        n: EnvironmentFile.model_validate(d) for n, d in region_documents("shop", spec).items()
    }
    assert list(found) == ["shop.eu-west", "shop.eu-central", "shop.us-east"]
    us = found[region_environment("shop", "us-east")]
    assert (us.part_of, us.environment, us.router.port) == ("shop", "shop.us-east", 9003)
    assert us.region.name == "us-east" and us.labels == {"tier": "production"}
    # its audit log is kept in another region of the parent's: the policies see that one
    assert us.audit_log is not None and us.audit_log.labels == {"jurisdiction": "eu"}
    own = found["shop.eu-west"].audit_log
    assert own is not None and (own.region, own.labels) == ("eu-west", None)


def test_a_region_whose_first_wave_takes_some_instances_runs_a_paused_canary() -> None:
    found = region_documents("shop", _spec())
    canary = EnvironmentFile.model_validate(found["shop.eu-west"]).strategy
    assert (canary.type, canary.canary_replicas) == ("canary", 1)
    assert [s.set_weight for s in canary.steps] == [33, None]
    assert canary.steps[1].pause == "until-promoted"
    rolling = EnvironmentFile.model_validate(found["shop.us-east"]).strategy
    assert (rolling.type, rolling.steps) == ("rolling", [])


def test_policies_see_every_region_with_its_hosts() -> None:
    hosts = {"type": "ssh", "hosts": [{"address": "10.0.0.1", "labels": {"zone": "a"}}]}
    regions = [{**REGIONS[0], "target": hosts}, *REGIONS[1:]]
    seen = gate.regions_of(_spec(regions=regions))
    assert [(r.name, r.labels["jurisdiction"]) for r in seen] == [
        ("eu-west", "eu"), ("eu-central", "eu"), ("us-east", "us"),
    ]  # fmt: skip
    assert [(h.address, h.labels) for h in seen[0].hosts] == [("10.0.0.1", {"zone": "a"})]
