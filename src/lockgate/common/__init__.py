"""Leaf helpers every layer may use: errors, files and archives, processes, ports, git facts,
HTTP checks, YAML with positions, percentiles. Nothing here imports the rest of lockgate."""
