"""Content-addressed job cache: keys, local and remote storage, entries."""
