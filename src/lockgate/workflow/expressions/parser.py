"""Recursive-descent parser with GitHub's precedence: ! > comparison > equality > && > ||."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from .ast import Call, Compare, Context, Group, Index, Literal, Logical, Node, Not, Star
from .errors import ExpressionError
from .lexer import T, Token, tokenize

MAX_DEPTH = 50

# name -> (min args, max args)
BUILTIN_FUNCTIONS: dict[str, tuple[int, int]] = {
    "contains": (2, 2),
    "startswith": (2, 2),
    "endswith": (2, 2),
    "format": (1, 255),
    "join": (1, 2),
    "tojson": (1, 1),
    "fromjson": (1, 1),
    "case": (3, 255),
}


class _Parser:
    def __init__(
        self,
        source: str,
        contexts: Collection[str],
        functions: Mapping[str, tuple[int, int]],
    ) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.pos = 0
        self.depth = 0
        self.contexts = {c.lower() for c in contexts}
        self.functions = {**BUILTIN_FUNCTIONS, **{k.lower(): v for k, v in functions.items()}}

    # -- token helpers -------------------------------------------------------
    def peek(self) -> Token:
        return self.tokens[self.pos]

    def previous(self) -> Token:
        return self.tokens[self.pos - 1]

    def at_end(self) -> bool:
        return self.peek().type is T.EOF

    def match(self, *types: T) -> bool:
        if not self.at_end() and self.peek().type in types:
            self.pos += 1
            return True
        return False

    def error(self, description: str, token: Token) -> ExpressionError:
        return ExpressionError(
            "parsing",
            f"{description}: '{token.text()}'. Located at position {token.offset + 1} "
            f"within expression: {self.source}",
        )

    def expect(self, kind: T) -> None:
        if not self.match(kind):
            raise self.error("Unexpected symbol", self.peek())

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"Exceeded max expression depth {MAX_DEPTH}", self.peek())

    # -- grammar -------------------------------------------------------------
    def parse(self) -> Node | None:
        if self.at_end():
            return None
        node = self.expression()
        if not self.at_end():
            raise self.error("Unexpected symbol", self.peek())
        return node

    def expression(self) -> Node:
        self.enter()
        node = self.logical(T.OR, "||", lambda: self.logical(T.AND, "&&", self.equality))
        self.depth -= 1
        return node

    def logical(self, kind: T, operator: str, operand: Callable[[], Node]) -> Node:
        first = operand()
        if self.at_end() or self.peek().type is not kind:
            return first
        self.enter()
        operands = [first]
        while self.match(kind):
            operands.append(operand())
        self.depth -= 1
        return Logical(operator, tuple(operands))

    def equality(self) -> Node:
        node = self.comparison()
        while self.match(T.EQ, T.NE):
            operator = self.previous().lexeme
            node = Compare(node, operator, self.comparison())
        return node

    def comparison(self) -> Node:
        node = self.unary()
        while self.match(T.GT, T.GE, T.LT, T.LE):
            operator = self.previous().lexeme
            node = Compare(node, operator, self.unary())
        return node

    def unary(self) -> Node:
        if self.match(T.BANG):
            self.enter()
            node = Not(self.unary())
            self.depth -= 1
            return node
        return self.postfix()

    def postfix(self) -> Node:
        node = self.call()
        if not isinstance(node, Group | Call | Context):
            return node
        entered = 0
        while True:
            if self.match(T.LBRACKET):
                index: Node | Star = Star() if self.match(T.STAR) else self.expression()
                self.expect(T.RBRACKET)
            elif self.match(T.DOT):
                if self.match(T.IDENT):
                    index = Literal(self.previous().lexeme)
                elif self.match(T.STAR):
                    index = Star()
                else:
                    self.enter()
                    raise self.error("Unexpected symbol", self.peek())
            else:
                break
            self.enter()
            entered += 1
            node = Index(node, index)
        self.depth -= entered
        return node

    def call(self) -> Node:
        if self.at_end() or self.peek().type is not T.IDENT:
            return self.primary()
        name = self.peek()
        self.pos += 1
        if not self.match(T.LPAREN):
            if name.lexeme.lower() not in self.contexts:
                raise self.error("Unrecognized named-value", name)
            return Context(name.lexeme)
        args: list[Node] = []
        while not self.match(T.RPAREN):
            args.append(self.expression())
            if self.at_end() or self.peek().type is not T.RPAREN:
                self.expect(T.COMMA)
        self.check_call(name, len(args))
        return Call(name.lexeme.lower(), tuple(args), name)

    def check_call(self, name: Token, count: int) -> None:
        lowered = name.lexeme.lower()
        if lowered not in self.functions:
            raise self.error("Unrecognized function", name)
        low, high = self.functions[lowered]
        if count < low:
            raise self.error("Too few parameters supplied", name)
        if count > high:
            raise self.error("Too many parameters supplied", name)
        if lowered == "case" and count % 2 == 0:
            raise self.error(
                "Even number of parameters supplied, requires an odd number of parameters", name
            )

    def primary(self) -> Node:
        token = self.peek()
        literals = {T.TRUE: True, T.FALSE: False, T.NULL: None}
        if token.type in literals:
            self.pos += 1
            return Literal(literals[token.type])
        if token.type in (T.NUMBER, T.STRING):
            self.pos += 1
            return Literal(token.value)
        if self.match(T.LPAREN):
            inner = self.expression()
            if self.at_end():
                raise self.error("Unexpected end of expression", self.previous())
            self.expect(T.RPAREN)
            return Group(inner)
        if self.at_end():
            raise self.error("Unexpected end of expression", self.previous())
        raise self.error("Unexpected symbol", token)


def parse(
    source: str,
    contexts: Collection[str] = (),
    functions: Mapping[str, tuple[int, int]] | None = None,
) -> Node | None:
    """Parse an expression; None for an empty one. Raises ExpressionError."""
    return _Parser(source, contexts, functions or {}).parse()
