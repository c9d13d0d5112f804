"""User-facing errors: one clear message with where and a hint, exit code 2."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in input (a file, a flag, a field) that the user can fix."""

    exit_code = 2

    def __init__(self, message: str, *, where: str = "", hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        return f"{text}\n  hint: {self.hint}" if self.hint else text
