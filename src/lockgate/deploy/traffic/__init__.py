"""Routers that split traffic between instances: the built-in proxy, HAProxy."""
