"""Broker URLs: refused clearly when lockgate cannot use one, and never shown with a password."""

from __future__ import annotations

import pytest

from lockgate.common.errors import UserError
from lockgate.runners.brokers import checked_broker, redacted


def test_a_password_is_never_shown() -> None:
    assert redacted("redis://:s3cret@ci:6379/0") == "redis://:***@ci:6379/0"
    assert redacted("amqp://guest:s3cret@mq//") == "amqp://guest:***@mq//"
    assert redacted("redis://ci:6379/0") == "redis://ci:6379/0"


@pytest.mark.parametrize("url", ["http://ci:6379", "redis://", "ci:6379", "sqs://:s3cret@x"])
def test_what_is_not_a_broker_url_is_refused_without_its_password(url: str) -> None:
    with pytest.raises(UserError, match="is not a broker URL") as refused:
        checked_broker(url, "--broker")
    assert "s3cret" not in str(refused.value) and refused.value.where == "--broker"
