"""`shell:` -> the command line that runs a step's script, as GitHub builds it."""

from __future__ import annotations

import functools
import shlex
import shutil

from ..common.errors import UserError

BUILT_IN = {
    "bash": ("bash --noprofile --norc -eo pipefail {0}", ".sh"),
    "sh": ("sh -e {0}", ".sh"),
    "python": ("python {0}", ".py"),
    "pwsh": ("pwsh -command \". '{0}'\"", ".ps1"),
}


@functools.cache
def _installed(program: str) -> bool:
    """Looked up once per run: a step spawns a shell every few milliseconds."""
    return shutil.which(program) is not None


@functools.cache
def _template_words(template: str) -> tuple[str, ...]:
    return tuple(shlex.split(template))


def default_shell() -> str:
    """GitHub's default on Linux when no `shell:` is given: `bash -e {0}` (no pipefail, unlike
    an explicit `shell: bash`), or `sh -e {0}` where bash is missing."""
    return "bash -e {0}" if _installed("bash") else "sh -e {0}"


def command_line(shell: str, script_path: str) -> list[str]:
    template, _ = BUILT_IN.get(shell, (shell, ""))
    if "{0}" not in template:
        raise UserError(
            f"custom shell {shell!r} has no {{0}} placeholder for the script path",
            hint="write it like `shell: perl {0}`",
        )
    argv = [part.replace("{0}", script_path) for part in _template_words(template)]
    if not _installed(argv[0]):
        raise UserError(
            f"shell {argv[0]!r} is not installed on this runner",
            hint="install it, or choose another `shell:`",
        )
    return argv


def script_suffix(shell: str) -> str:
    if shell.split()[0] in ("bash", "sh"):
        return ".sh"
    return BUILT_IN.get(shell, ("", ""))[1]
