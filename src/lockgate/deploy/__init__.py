"""Deployments: targets, traffic, strategies and the rollout controller."""
