"""`lockgate serve`: triggers in (webhooks, git hooks, manual runs), a durable queue, workers."""
