"""Check a token tree against the workflow grammar, collecting every problem GitHub reports.

Mirrors how GitHub's workflow parser reads a file: a mapping picks among alternative forms by
the keys it has, a scalar that is not of the expected kind is an "Unexpected value", and each
`${{ }}` is parsed with the contexts allowed where it stands.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .expressions import ExpressionError, parse
from .grammar import BACKGROUND, BACKGROUND_ONLY, DEFS, MapForm, ScalarForm, SeqForm, forms
from .problems import Limits, Problem
from .template import CLOSE, OPEN, closing
from .tokens import Map, Scalar, Seq, Token

NOT_ALLOWED = "A template expression is not allowed in this context"
MISSING_HINTS = {
    "runs-on": "add `runs-on: ubuntu-latest` (or another runner label)",
    "jobs": "add a `jobs:` section with at least one job",
    "on": "add `on: push` (or the events that should trigger this workflow)",
    "run": "a step needs `run:` (a command) or `uses:` (an action)",
    "uses": "a step needs `run:` (a command) or `uses:` (an action)",
}


@dataclass(frozen=True)
class Allowed:
    """Named contexts and extra functions (name -> (min args, max args)) at one place."""

    contexts: frozenset[str]
    functions: dict[str, tuple[int, int]]

    @staticmethod
    def of(entries: Iterable[str]) -> Allowed:
        contexts, functions = set(), {}
        for entry in entries:
            name, paren, args = entry.partition("(")
            if not paren:
                contexts.add(name)
                continue
            low, high = args.rstrip(")").split(",")
            functions[name.lower()] = (int(low), 255 if high == "MAX" else int(high))
        return Allowed(frozenset(contexts), functions)

    def __bool__(self) -> bool:
        return bool(self.contexts or self.functions)


def _context(parent: tuple[str, ...], name: str) -> tuple[str, ...]:
    own = DEFS[name].context
    if not own:
        return parent
    seen = {c.upper() for c in parent}
    return parent + tuple(c for c in own if c.upper() not in seen)


def split_template(text: str) -> list[tuple[int, int]] | str:
    """(start, end) of each `${{ ... }}` in text (end after `}}`), or the not-closed message."""
    spans, i = [], text.find(OPEN)
    while i >= 0:
        j = closing(text, i)
        if j < 0:
            return (
                "The expression is not closed. An unescaped ${{ sequence was found, but the "
                "closing }} sequence was not found."
            )
        spans.append((i, j + len(CLOSE)))
        i = text.find(OPEN, j + len(CLOSE))
    return spans


def check_expression(source: str, allowed: Allowed) -> str | None:
    """GitHub's message for an invalid expression, or None."""
    text = source.strip()
    if not text:
        return "An expression was expected"
    try:
        parse(text, allowed.contexts, allowed.functions)
    except ExpressionError as exc:
        return exc.message
    return None


class Reader:
    def __init__(self, lines: list[str], limits: Limits) -> None:
        self.lines = lines
        self.limits = limits
        self.problems: list[Problem] = []

    def error(self, message: str, at: Token | tuple[int, int], hint: str = "") -> None:
        line, col = at if isinstance(at, tuple) else (at.line, at.col)
        self.problems.append(Problem(message, line, col, hint))

    # -- expressions in scalars ---------------------------------------------------------------

    def template(self, token: Scalar, context: tuple[str, ...]) -> str | None:
        """Check the `${{ }}` in a string scalar: "expr" when it holds any, else None.

        A scalar whose expressions are all valid is an expression; one with an error is kept
        as literal text (and so may also be an unexpected value), as GitHub does.
        """
        if not isinstance(token.value, str) or OPEN not in token.value:
            return None
        if not context:
            self.error(NOT_ALLOWED, token)
            return "expr"
        spans = split_template(token.value)
        if isinstance(spans, str):
            self.error(spans, token)
            return None
        allowed = Allowed.of(context)
        ok = True
        whole = len(spans) == 1 and spans[0] == (0, len(token.value))
        for start, end in spans:
            inner = token.value[start + len(OPEN) : end - len(CLOSE)]
            if inner.strip() == "insert":
                if not whole:
                    self.error(
                        "The directive 'insert' is not allowed in this context. Directives are "
                        "not supported for expressions that are embedded within a string. "
                        "Directives are only supported when the entire value is an expression.",
                        token,
                    )
                    return None
                continue
            problem = check_expression(inner, allowed)
            if problem:
                empty = not inner.strip()  # GitHub names the value, not the `${{`, then
                self.error(
                    problem,
                    token if empty else self._expression_position(token, start),
                    f"contexts available here: {', '.join(sorted(allowed.contexts))}",
                )
                ok = False
        if ok and not whole and len(token.value) + 12 > self.limits.max_expression_length:
            self.error(f"Exceeded max expression length {self.limits.max_expression_length}", token)
            return None
        return "expr" if ok else None

    def _expression_position(self, token: Scalar, offset: int) -> tuple[int, int]:
        """Where the `${{` at `offset` of the token's value stands in the file."""
        block = token.style in ("|", ">") and token.end_line > token.line
        if not block:
            if token.end_line > token.line:
                return token.line, token.col  # a flow scalar over several lines: its start
            quote = 1 if token.style in ("'", '"') else 0
            return token.line, token.col + offset + quote
        # A block scalar: find the n-th `${{` of its body in the file's own lines.
        nth = token.value.count(OPEN, 0, offset) if isinstance(token.value, str) else 0
        seen = 0
        for number in range(token.line + 1, token.end_line + 1):
            text = self.lines[number - 1] if number - 1 < len(self.lines) else ""
            at = text.find(OPEN)
            while at >= 0:
                if seen == nth:
                    return number, at + 1
                seen += 1
                at = text.find(OPEN, at + len(OPEN))
        return token.line, token.col

    # -- values ---------------------------------------------------------------------------------

    def read(self, token: Token, name: str, parent: tuple[str, ...] = ()) -> None:
        context = _context(parent, name)
        if isinstance(token, Scalar):
            self.scalar(token, name, context)
        elif isinstance(token, Seq):
            seqs = [f for f in forms(name) if isinstance(f, SeqForm)]
            if not seqs:
                self.error("A sequence was not expected", token)
                return
            for item in token.items:
                self.read(item, seqs[0].item, context)
        else:
            maps = [f for f in forms(name) if isinstance(f, MapForm)]
            if not maps:
                self.error("A mapping was not expected", token)
                return
            self.mapping(token, maps, context)

    def scalar(self, token: Scalar, name: str, context: tuple[str, ...]) -> None:
        if self.template(token, context) == "expr":
            return
        candidates = [f for f in forms(name) if isinstance(f, ScalarForm)]
        if any(_matches(f, token.value) for f in candidates):
            return
        if not isinstance(token.value, str) and any(_matches(f, token.text()) for f in candidates):
            return
        self.error(f"Unexpected value '{token.text()}'", token)

    def mapping(self, token: Map, candidates: list[MapForm], context: tuple[str, ...]) -> None:
        loose_only = (
            len(candidates) == 1 and not candidates[0].properties and candidates[0].loose_key
        )
        seen: set[str] = set()
        has_expression_key = False
        for key, value in token.pairs:
            if self.template(key, context) == "expr":  # an expression key (`${{ insert }}`)
                has_expression_key = True
                if context:
                    value_type = candidates[0].loose_value if loose_only else "any"
                    self.read(value, value_type or "any", context)
                continue
            text = key.text()
            if text:
                if text.upper() in seen:
                    self.error(f"'{text}' is already defined", key)
                    continue
                seen.add(text.upper())
            if not loose_only:
                found = [c for c in candidates if text in c.properties]
                if found and text in BACKGROUND and not self.limits.background_steps:
                    self.error(f"Unexpected value '{text}'", key)
                    continue
                if found:
                    candidates = found
                    self.read(value, found[0].properties[text].type, context)
                    continue
            loose = candidates[0]
            if loose.loose_key and loose.loose_value:
                self.scalar(key, loose.loose_key, context)
                self.read(value, loose.loose_value, context)
                continue
            allowed = sorted({p for c in candidates for p in c.properties} - BACKGROUND)
            self.error(f"Unexpected value '{text}'", key, f"allowed here: {', '.join(allowed)}")
        if loose_only:
            return
        if len(candidates) > 1:
            counts: dict[str, int] = {}
            for candidate in candidates:
                for prop in candidate.properties:
                    counts[prop] = counts.get(prop, 0) + 1
            unique = sorted(
                k
                for k, n in counts.items()
                if n == 1 and (self.limits.background_steps or k not in BACKGROUND_ONLY)
            )
            self.error(
                "There's not enough info to determine what you meant. Add one of these "
                f"properties: {', '.join(unique)}",
                token,
            )
        elif not has_expression_key:
            for name, spec in candidates[0].properties.items():
                if spec.required and name.upper() not in seen:
                    self.error(
                        f"Required property is missing: {name}",
                        token,
                        MISSING_HINTS.get(name, f"add `{name}:`"),
                    )


def _matches(form: ScalarForm, value: object) -> bool:
    if form.kind == "null":
        return value is None
    if form.kind == "boolean":
        return isinstance(value, bool)
    if form.kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if not isinstance(value, str):
        return False
    if form.constant is not None:
        return value == form.constant
    return bool(value) or not form.non_empty


def depth_exceeded(token: Token | None, limit: int, depth: int = 0) -> bool:
    if token is None or isinstance(token, Scalar):
        return False
    if depth >= limit:
        return True
    children: Iterable[Token] = (
        token.items if isinstance(token, Seq) else (v for _, v in token.pairs)
    )
    return any(depth_exceeded(child, limit, depth + 1) for child in children)


def read_workflow(root: Token, lines: list[str], limits: Limits) -> list[Problem]:
    """Every grammar problem of a workflow document."""
    if depth_exceeded(root, limits.max_depth):
        return [Problem("Maximum object depth exceeded")]
    reader = Reader(lines, limits)
    reader.read(root, "workflow-root")
    return reader.problems
