"""Names a user gives (environments, fleets) that lockgate also uses as directory names: checked
where they enter, so a name can never point outside the state directory."""

from __future__ import annotations

import re

from .errors import UserError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def checked_name(value: str, what: str, where: str) -> str:
    if not NAME.fullmatch(value) or ".." in value:
        raise UserError(
            f"{what} {value!r} is not a valid name",
            where=where,
            hint="use letters, digits, '.', '_' and '-' (at most 100, starting with a letter "
            "or digit)",
        )
    return value
