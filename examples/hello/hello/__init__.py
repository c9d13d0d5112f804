"""A tiny library the example pipeline lints, tests and packages."""


def greet(name: str) -> str:
    return f"hello, {name}"
