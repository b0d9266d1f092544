"""The run filter language, parsed into a small AST that each backend compiles.

    filter      := or_expr
    or_expr     := and_expr ("or" and_expr)*
    and_expr    := term ("and" term)*
    term        := "(" or_expr ")" | comparison
    comparison  := key op literal
                 | key ["not"] "in" "(" literal ("," literal)* ")"
                 | key "is" ["not"] "null"
    key         := metrics.NAME | params.NAME | tags.NAME | attributes.NAME | ATTRIBUTE
                   (NAME may be `back quoted` or "double quoted" if it has odd characters;
                    metric/param/tag/attribute/attr are accepted as prefixes too)
    op          := = | == | != | <> | < | <= | > | >= | like | ilike
    literal     := number | 'single quoted string'

Metrics compare as numbers against the run's latest value of that metric; params and tags
compare as strings; attributes are status, name (run_name), run_id, user, kind, start_time and
end_time (epoch milliseconds). Keywords are case-insensitive.

    metrics.acc > 0.9 and params.model = 'xgb'
    (status = 'FAILED' or metrics.loss is null) and tags.team like 'fraud%'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from shipyard.errors import FilterSyntaxError

Kind = Literal["metric", "param", "tag", "attribute"]
Value = float | str

ATTRIBUTES = {
    "status": str,
    "name": str,
    "run_id": str,
    "user": str,
    "kind": str,
    "start_time": float,
    "end_time": float,
}
_ATTRIBUTE_ALIASES = {"run_name": "name", "id": "run_id", "status": "status"}
_PREFIXES: dict[str, Kind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
}
_COMPARISON_OPS = {
    "=": "=",
    "==": "=",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
    "like": "like",
    "ilike": "ilike",
}
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
      | (?P<string>'(?:[^'\\]|\\.|'')*')
      | (?P<quoted>`[^`]*`|"[^"]*")
      | (?P<op><=|>=|!=|<>|==|=|<|>)
      | (?P<punct>[(),.])
      | (?P<word>[A-Za-z_][\w\-]*)
    )""",
    re.VERBOSE,
)
_SPACE = re.compile(r"\s*")
_ESCAPE = re.compile(r"\\(.)|''")
_MAX_DEPTH = 100


@dataclass(frozen=True)
class Comparison:
    kind: Kind
    key: str
    op: str  # one of = != < <= > >= like ilike in not_in is_null not_null
    value: Value | tuple[Value, ...] | None


@dataclass(frozen=True)
class BoolOp:
    op: Literal["and", "or"]
    items: tuple[Node, ...]


Node = Comparison | BoolOp


@dataclass(frozen=True)
class OrderKey:
    kind: Kind
    key: str
    descending: bool


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        start = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
        if start == len(text):
            break
        match = _TOKEN.match(text, start)
        if not match or match.end() == start:
            raise FilterSyntaxError(
                f"unexpected character {text[start]!r} at position {start} in filter {text!r}"
            )
        kind = match.lastgroup or ""
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    def error(self, message: str) -> FilterSyntaxError:
        where = self.tokens[self.i].pos if self.i < len(self.tokens) else len(self.text)
        return FilterSyntaxError(f"{message} at position {where} in filter {self.text!r}")

    def peek_word(self) -> str | None:
        if self.i < len(self.tokens) and self.tokens[self.i].kind == "word":
            return self.tokens[self.i].text.lower()
        return None

    def take(self, kind: str, text: str | None = None) -> _Token:
        if self.i >= len(self.tokens):
            raise self.error(f"expected {text or kind} but the filter ended")
        token = self.tokens[self.i]
        matches = token.kind == kind and (text is None or token.text.lower() == text)
        if not matches:
            raise self.error(f"expected {text or kind} but found {token.text!r}")
        self.i += 1
        return token

    def parse(self) -> Node:
        node = self.or_expr()
        if self.i < len(self.tokens):
            raise self.error(f"unexpected {self.tokens[self.i].text!r}")
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.peek_word() == "or":
            self.i += 1
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_expr(self) -> Node:
        items = [self.term()]
        while self.peek_word() == "and":
            self.i += 1
            items.append(self.term())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def term(self) -> Node:
        if self.i < len(self.tokens) and self.tokens[self.i].text == "(":
            if self.depth >= _MAX_DEPTH:
                raise self.error(f"parentheses nest deeper than {_MAX_DEPTH} levels")
            self.i += 1
            self.depth += 1
            node = self.or_expr()
            self.take("punct", ")")
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Comparison:
        kind, key = self.key()
        word = self.peek_word()
        if word == "is":
            self.i += 1
            negated = self.peek_word() == "not"
            if negated:
                self.i += 1
            self.take("word", "null")
            return Comparison(kind, key, "not_null" if negated else "is_null", None)
        if word in ("in", "not"):
            self.i += 1
            if word == "not":
                self.take("word", "in")
            op = "not_in" if word == "not" else "in"
            return Comparison(kind, key, op, self.value_list(kind, key, op))
        if word in ("like", "ilike"):
            self.i += 1
            op = word
        elif self.i < len(self.tokens) and self.tokens[self.i].kind == "op":
            op = _COMPARISON_OPS[self.tokens[self.i].text]
            self.i += 1
        else:
            raise self.error("expected a comparison operator (=, !=, <, <=, >, >=, like, in)")
        return Comparison(kind, key, op, self.checked_literal(kind, key, op))

    def key(self) -> tuple[Kind, str]:
        if self.i >= len(self.tokens):
            raise self.error("expected a key such as metrics.acc but the filter ended")
        start, first = self.i, self.tokens[self.i]
        if first.kind != "word":
            raise self.error(f"expected a key such as metrics.acc but found {first.text!r}")
        self.i += 1
        prefix = first.text.lower()
        if prefix in _PREFIXES and self.i < len(self.tokens) and self.tokens[self.i].text == ".":
            self.i += 1
            kind = _PREFIXES[prefix]
            name = self.name()
        else:
            kind, name = "attribute", first.text
        if kind == "attribute":
            name = _ATTRIBUTE_ALIASES.get(name.lower(), name.lower())
            if name not in ATTRIBUTES:
                self.i = start  # point at the key
                raise self.error(
                    f"unknown attribute {name!r} (known: {', '.join(sorted(ATTRIBUTES))}; "
                    "use metrics.X, params.X or tags.X for run data)"
                )
        return kind, name

    def name(self) -> str:
        token = self.tokens[self.i] if self.i < len(self.tokens) else None
        if token is None or token.kind not in ("word", "quoted"):
            raise self.error("expected a name after the dot")
        self.i += 1
        parts = [token.text[1:-1] if token.kind == "quoted" else token.text]
        # dotted names such as metrics.val.loss
        while (
            token.kind == "word"
            and self.i + 1 < len(self.tokens)
            and self.tokens[self.i].text == "."
            and self.tokens[self.i + 1].kind == "word"
        ):
            parts.append(self.tokens[self.i + 1].text)
            self.i += 2
        return ".".join(parts)

    def literal(self) -> Value:
        if self.i >= len(self.tokens):
            raise self.error("expected a value but the filter ended")
        token = self.tokens[self.i]
        self.i += 1
        if token.kind == "number":
            return float(token.text)
        if token.kind == "string":
            return _ESCAPE.sub(_unescape, token.text[1:-1])
        self.i -= 1
        raise self.error(f"expected a number or a 'quoted string' but found {token.text!r}")

    def checked_literal(self, kind: Kind, key: str, op: str) -> Value:
        at = self.i
        value = self.literal()
        problem = _type_problem(kind, key, op, value, self.tokens[at].text)
        if problem:
            self.i = at
            raise self.error(problem)
        return value

    def value_list(self, kind: Kind, key: str, op: str) -> tuple[Value, ...]:
        self.take("punct", "(")
        values = [self.checked_literal(kind, key, op)]
        while self.i < len(self.tokens) and self.tokens[self.i].text == ",":
            self.i += 1
            values.append(self.checked_literal(kind, key, op))
        self.take("punct", ")")
        return tuple(values)


def _type_problem(kind: Kind, key: str, op: str, value: Value, typed: str) -> str | None:
    """What is wrong with comparing ``key`` to ``value``; the hint quotes the number exactly
    as the user ``typed`` it, since a string param matches only that text."""
    numeric = kind == "metric" or (kind == "attribute" and ATTRIBUTES[key] is float)
    if numeric and op in ("like", "ilike"):
        return f"{op} works on strings, not on {kind} {key!r}"
    if numeric and not isinstance(value, float):
        return f"{kind} {key!r} is a number; compare it with a number"
    if not numeric and isinstance(value, float):
        return f"{kind} {key!r} is a string; quote the value: '{typed}'"
    return None


def _unescape(match: re.Match[str]) -> str:
    """'' and \\' are a quote, \\\\ a backslash; any other backslash stays (LIKE patterns)."""
    escaped = match.group(1)
    if escaped is None or escaped == "'":
        return "'"
    return "\\" if escaped == "\\" else match.group(0)


def parse_filter(text: str | None) -> Node | None:
    """Parse a filter string; an empty or blank filter means "every run"."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise FilterSyntaxError(f"a filter must be a string, not {type(text).__name__}")
    if not text.strip():
        return None
    return _Parser(text).parse()


def parse_order_by(clauses: str | list[str] | tuple[str, ...] | None) -> list[OrderKey]:
    """Parse order_by clauses such as ``["metrics.acc desc", "start_time"]``."""
    if clauses is None:
        return []
    if isinstance(clauses, str):
        clauses = [clauses]
    if not isinstance(clauses, list | tuple):
        raise FilterSyntaxError(f"order_by takes strings, not {type(clauses).__name__}")
    keys = []
    for clause in clauses:
        if not isinstance(clause, str):
            raise FilterSyntaxError(f"an order_by clause is a string, not {type(clause).__name__}")
        parser = _Parser(clause)
        kind, key = parser.key()
        descending = False
        direction = parser.peek_word()
        if direction in ("asc", "desc"):
            parser.i += 1
            descending = direction == "desc"
        if parser.i < len(parser.tokens):
            raise parser.error("order_by takes a key and an optional ASC or DESC")
        keys.append(OrderKey(kind, key, descending))
    return keys
