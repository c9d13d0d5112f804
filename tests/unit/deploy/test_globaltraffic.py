"""How the global router shares traffic between regions, and what `lockgate traffic` reads."""

from __future__ import annotations

import pytest

from lockgate.common.errors import UserError
from lockgate.deploy.envfile import EnvironmentFile
from lockgate.deploy.globaltraffic import parse_weights, shares

ASKED = {"eu": 100, "us": 100, "ap": 0}


def test_healthy_regions_get_what_was_asked() -> None:
    assert shares(ASKED, {"eu": True, "us": True, "ap": True}) == ASKED


def test_an_unhealthy_region_is_drained_to_the_others() -> None:
    assert shares(ASKED, {"eu": False, "us": True, "ap": True}) == {"eu": 0, "us": 100, "ap": 0}


def test_when_every_weighted_region_fails_the_idle_ones_take_over() -> None:
    """A blue-green between regions: all traffic on eu; eu fails; us and ap take it."""
    blue = {"eu": 100, "us": 0, "ap": 0}
    assert shares(blue, {"eu": False, "us": True, "ap": True}) == {"eu": 0, "us": 1, "ap": 1}


def test_with_no_healthy_region_the_asked_weights_stand() -> None:
    assert shares(ASKED, {"eu": False, "us": False, "ap": False}) == ASKED


SPEC = EnvironmentFile.model_validate({
    "app": "a", "global-router": {"port": 9000},
    "regions": [{"name": "eu", "router": {"port": 9001}}, {"name": "us", "router": {"port": 9002}}],
})  # fmt: skip


def test_weights_not_named_are_zero() -> None:
    assert parse_weights(SPEC, ["us=100"]) == {"eu": 0, "us": 100}


@pytest.mark.parametrize(
    ("pairs", "said"),
    [(["mars=1"], "no region 'mars'"), (["eu"], "is not REGION=WEIGHT"),
     (["eu=-1"], "is not REGION=WEIGHT"), (["eu=0"], "at least one region")],
)  # fmt: skip
def test_bad_weights_are_refused(pairs: list[str], said: str) -> None:
    with pytest.raises(UserError, match=said):
        parse_weights(SPEC, pairs)
