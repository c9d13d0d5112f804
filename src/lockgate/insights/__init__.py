"""Answers computed from lockgate's own records: flaky and slow tests (more to come)."""
