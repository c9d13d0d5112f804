"""What `uses:` resolves to: local composite and JavaScript actions, and built-ins."""
