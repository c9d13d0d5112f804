"""Workflow commands printed by steps (`::error file=a,line=1::msg`), read into effects.

A step's output line is read by its `CommandReader` into effects (a log line, a mask, an
annotation, an output, state, an environment variable, a PATH entry); the job executor applies
them. Reading knows GitHub's rules (`stop-commands`, the disabled `set-env`/`add-path`), and
nothing of the job."""

from __future__ import annotations

from dataclasses import dataclass

from .state import Annotation

_UNESCAPE_DATA = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
_UNESCAPE_PROPERTY = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))


def _unescape(text: str, table: tuple[tuple[str, str], ...]) -> str:
    for escaped, plain in table:
        text = text.replace(escaped, plain)
    return text


@dataclass(frozen=True)
class Command:
    name: str
    properties: dict[str, str]
    message: str


def parse_command(line: str) -> Command | None:
    """`::name k=v,k=v::message` -> Command; None when the line is ordinary output."""
    if not line.startswith("::"):
        return None
    end = line.find("::", 2)
    if end < 0:
        return None
    head, message = line[2:end], line[end + 2 :]
    name, _, props = head.partition(" ")
    if not name:
        return None
    properties: dict[str, str] = {}
    for pair in props.split(","):
        key, sep, value = pair.partition("=")
        if sep and key.strip():
            properties[key.strip()] = _unescape(value, _UNESCAPE_PROPERTY)
    return Command(name, properties, _unescape(message, _UNESCAPE_DATA))


@dataclass(frozen=True)
class Print:
    text: str  # a line of the step's log


@dataclass(frozen=True)
class Mask:
    value: str


@dataclass(frozen=True)
class Annotate:
    annotation: Annotation


@dataclass(frozen=True)
class SetOutput:
    name: str
    value: str


@dataclass(frozen=True)
class SaveState:
    name: str
    value: str


@dataclass(frozen=True)
class SetEnv:
    name: str
    value: str


@dataclass(frozen=True)
class AddPath:
    path: str


Effect = Print | Mask | Annotate | SetOutput | SaveState | SetEnv | AddPath
ANNOTATION_LEVELS = {"error", "warning", "notice"}


@dataclass
class CommandReader:
    """Reads one step's output lines into effects."""

    unsecure: bool = False  # ACTIONS_ALLOW_UNSECURE_COMMANDS=true: set-env and add-path work
    debug: bool = False  # ACTIONS_STEP_DEBUG: `::debug::` lines are shown
    stop_token: str | None = None  # inside `::stop-commands::TOKEN`: lines are only printed

    def read(self, line: str) -> list[Effect]:
        if self.stop_token is not None:
            if line == f"::{self.stop_token}::":
                self.stop_token = None
                return []
            return [Print(line)]
        command = parse_command(line)
        if command is None:
            return [Print(line)]
        name, props, message = command.name, command.properties, command.message
        if name == "add-mask":
            return [Mask(message)]
        if name in ANNOTATION_LEVELS:
            at = Annotation(
                name,
                message,
                props.get("file"),
                _int(props.get("line")),
                _int(props.get("col")),
                props.get("title"),
            )
            return [Annotate(at)]
        if name == "group":
            return [Print(f"▸ {message}")]
        if name == "endgroup":
            return []
        if name == "stop-commands":
            self.stop_token = message
            return []
        if name == "set-output":
            deprecated = (
                "warning: the `set-output` command is deprecated; write to $GITHUB_OUTPUT instead"
            )
            return [SetOutput(props.get("name", ""), message), Print(deprecated)]
        if name == "save-state":
            return [SaveState(props.get("name", ""), message)]
        if name == "debug":
            return [Print(f"##[debug]{message}")] if self.debug else []
        if name in ("set-env", "add-path") and not self.unsecure:
            said = (
                f"the `{name}` command is disabled; use $GITHUB_ENV / $GITHUB_PATH (or set "
                "ACTIONS_ALLOW_UNSECURE_COMMANDS: true in the step's env)"
            )
            return [Annotate(Annotation("error", said))]
        if name == "set-env":
            return [SetEnv(props["name"], message)] if props.get("name") else []
        if name == "add-path":
            return [AddPath(message)] if message else []
        return [Print(line)]


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
