"""Application bundles: reproducible, content-addressed, with signed provenance."""
