"""lockgate: CI/CD that runs the same on a laptop as on the server."""

__version__ = "0.1.0"
