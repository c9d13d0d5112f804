"""Canary analysis: metric providers and the judge that compares canary with baseline."""
