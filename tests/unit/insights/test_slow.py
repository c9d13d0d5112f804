"""When a test became slower: a real step up is found whatever the earlier durations round
to, and millisecond jitter is not a step up."""

from __future__ import annotations

from lockgate.insights.slow import step_up

RUNS = list(range(1, 9))


def test_a_step_up_from_durations_that_round_to_zero_is_found() -> None:
    assert step_up([0.0, 0.0, 0.0, 0.0, 2.0, 2.1, 2.0, 2.2], RUNS) == 5


def test_millisecond_jitter_is_not_a_step_up() -> None:
    assert step_up([0.001, 0.001, 0.002, 0.001, 0.004, 0.005, 0.004, 0.006], RUNS) is None


def test_a_small_relative_change_of_a_long_test_is_not_a_step_up() -> None:
    assert step_up([10.0, 10.2, 9.9, 10.1, 11.0, 11.2, 11.1, 10.9], RUNS) is None


def test_a_long_test_that_doubles_is_a_step_up() -> None:
    assert step_up([10.0, 10.2, 9.9, 10.1, 20.0, 20.5, 19.8, 20.1], RUNS) == 5
