"""Planning and running workflows: triggers, matrix, the needs DAG, jobs and steps."""
