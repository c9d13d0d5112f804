"""Rollout strategies: each a sequence of controller steps (launch, await_ready, serve, retire)."""
