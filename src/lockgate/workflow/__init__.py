"""Workflow files: YAML with positions, the schema, and the expression language."""
