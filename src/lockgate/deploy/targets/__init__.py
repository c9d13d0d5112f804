"""Where instances run. One module per kind of target, each implementing targets.base.Target."""
