"""Rollout strategies: one module each, behind strategies.base.Strategy, chosen here."""

from __future__ import annotations

from .base import Strategy
from .bluegreen import BlueGreen
from .canary import Canary
from .rolling import Rolling


def strategy_for(kind: str) -> Strategy:
    """The strategy a rollout names; a rollback rolls, whatever the environment's strategy."""
    strategies: dict[str, Strategy] = {
        "rolling": Rolling(),
        "rollback": Rolling(),
        "blue-green": BlueGreen(),
        "canary": Canary(),
    }
    return strategies[kind]
