"""`python -m lockgate`: the command line in this process (the agent is started this way)."""

from .cli.main import main

main()
