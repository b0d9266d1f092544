"""The run filter language: what parses to what, and where a bad filter goes wrong."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.errors import FilterSyntaxError, InvalidArgument
from shipyard.store.filters import (
    ATTRIBUTES,
    BoolOp,
    Comparison,
    Node,
    OrderKey,
    parse_filter,
    parse_order_by,
)


def metric(key: str, op: str, value: object) -> Comparison:
    return Comparison("metric", key, op, value)  # type: ignore[arg-type]


def param(key: str, op: str, value: object) -> Comparison:
    return Comparison("param", key, op, value)  # type: ignore[arg-type]


def tag(key: str, op: str, value: object) -> Comparison:
    return Comparison("tag", key, op, value)  # type: ignore[arg-type]


def attr(key: str, op: str, value: object) -> Comparison:
    return Comparison("attribute", key, op, value)  # type: ignore[arg-type]


def and_(*items: Node) -> BoolOp:
    return BoolOp("and", items)


def or_(*items: Node) -> BoolOp:
    return BoolOp("or", items)


# -- the documented examples ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "metrics.acc > 0.9 and params.model = 'xgb'",
            and_(metric("acc", ">", 0.9), param("model", "=", "xgb")),
        ),
        (
            "(status = 'FAILED' or metrics.loss is null) and tags.team like 'fraud%'",
            and_(
                or_(attr("status", "=", "FAILED"), metric("loss", "is_null", None)),
                tag("team", "like", "fraud%"),
            ),
        ),
        (
            "params.optimizer in ('adam', 'sgd') and start_time > 1767225600000",
            and_(
                param("optimizer", "in", ("adam", "sgd")),
                attr("start_time", ">", 1767225600000.0),
            ),
        ),
        ("metrics.`val/loss` < 0.5", metric("val/loss", "<", 0.5)),
        (
            "metrics.auc > 0.9 and params.max_depth = '6'",
            and_(metric("auc", ">", 0.9), param("max_depth", "=", "6")),
        ),
    ],
)
def test_documented_examples(text: str, expected: Node) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t "])
def test_a_blank_filter_means_every_run(text: str | None) -> None:
    assert parse_filter(text) is None


# -- operators and values ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("op_text", "op"),
    [
        ("=", "="),
        ("==", "="),
        ("!=", "!="),
        ("<>", "!="),
        ("<", "<"),
        ("<=", "<="),
        (">", ">"),
        (">=", ">="),
    ],
)
def test_comparison_operators(op_text: str, op: str) -> None:
    assert parse_filter(f"metrics.acc {op_text} 1") == metric("acc", op, 1.0)
    assert parse_filter(f"metrics.acc{op_text}1") == metric("acc", op, 1.0)
    assert parse_filter(f"params.p {op_text} 'v'") == param("p", op, "v")


def test_like_and_ilike() -> None:
    assert parse_filter("tags.team like 'fr%'") == tag("team", "like", "fr%")
    assert parse_filter("name ilike 'RUN_%'") == attr("name", "ilike", "RUN_%")


def test_in_and_not_in() -> None:
    assert parse_filter("params.opt in ('adam')") == param("opt", "in", ("adam",))
    assert parse_filter("params.opt not in ('adam', 'sgd')") == param(
        "opt", "not_in", ("adam", "sgd")
    )
    assert parse_filter("metrics.epochs in (1, 2.5, -3)") == metric(
        "epochs", "in", (1.0, 2.5, -3.0)
    )
    assert parse_filter("status in ('FAILED','KILLED')") == attr(
        "status", "in", ("FAILED", "KILLED")
    )


def test_is_null_and_is_not_null() -> None:
    assert parse_filter("metrics.loss is null") == metric("loss", "is_null", None)
    assert parse_filter("tags.owner is not null") == tag("owner", "not_null", None)
    assert parse_filter("end_time is null") == attr("end_time", "is_null", None)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("1", 1.0),
        ("-1", -1.0),
        ("+2", 2.0),
        ("0.25", 0.25),
        (".5", 0.5),
        ("3.", 3.0),
        ("1e3", 1000.0),
        ("1.5E-3", 0.0015),
        ("-2e+2", -200.0),
    ],
)
def test_numbers(literal: str, value: float) -> None:
    assert parse_filter(f"metrics.m = {literal}") == metric("m", "=", value)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'plain'", "plain"),
        ("''", ""),
        ("'it''s'", "it's"),
        (r"'it\'s'", "it's"),
        ("'a and b or (c)'", "a and b or (c)"),
        ("'two\nlines'", "two\nlines"),
        (r"'C:\\'", "C:\\"),  # an escaped backslash, so a value can end with one
        (r"'C:\dir'", r"C:\dir"),  # other backslashes are kept: LIKE escapes stay intact
        (r"'50\%'", r"50\%"),
        ("'ünïcødé ✓'", "ünïcødé ✓"),
    ],
)
def test_strings(literal: str, value: str) -> None:
    assert parse_filter(f"params.p = {literal}") == param("p", "=", value)


# -- keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "kind", "name"),
    [
        ("metrics.acc", "metric", "acc"),
        ("metric.acc", "metric", "acc"),
        ("params.lr", "param", "lr"),
        ("param.lr", "param", "lr"),
        ("tags.team", "tag", "team"),
        ("tag.team", "tag", "team"),
        ("metrics.val.loss", "metric", "val.loss"),  # dotted names
        ("metrics.`val/loss`", "metric", "val/loss"),
        ('metrics."val loss"', "metric", "val loss"),
        ("params.`odd name (v2)`", "param", "odd name (v2)"),
        ("params.learning-rate", "param", "learning-rate"),
        ("tags.`and`", "tag", "and"),
        ("tags.or", "tag", "or"),
    ],
)
def test_data_keys(key: str, kind: str, name: str) -> None:
    value = "1" if kind == "metric" else "'x'"
    node = parse_filter(f"{key} = {value}")

    assert isinstance(node, Comparison)
    assert (node.kind, node.key) == (kind, name)


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("status", "status"),
        ("name", "name"),
        ("run_name", "name"),
        ("run_id", "run_id"),
        ("id", "run_id"),
        ("user", "user"),
        ("attributes.user", "user"),
        ("attribute.status", "status"),
        ("attr.run_name", "name"),
        ("attributes.`run_id`", "run_id"),
        ("STATUS", "status"),
        ("Attributes.User", "user"),
    ],
)
def test_attribute_keys_and_aliases(key: str, name: str) -> None:
    assert parse_filter(f"{key} = 'x'") == attr(name, "=", "x")


def test_time_attributes_are_numbers() -> None:
    assert parse_filter("start_time >= 0 and end_time < 5") == and_(
        attr("start_time", ">=", 0.0), attr("end_time", "<", 5.0)
    )


def test_keywords_are_case_insensitive_and_names_keep_their_case() -> None:
    text = (
        "METRICS.Acc > 1 AND Params.Model LIKE 'x' Or TAGS.t ILIKE 'y' "
        "aNd status IS NOT NULL and metrics.L Is Null "
        "oR params.p NOT IN ('a') AND params.q IN ('b')"
    )
    assert parse_filter(text) == or_(
        and_(metric("Acc", ">", 1.0), param("Model", "like", "x")),
        and_(
            tag("t", "ilike", "y"),
            attr("status", "not_null", None),
            metric("L", "is_null", None),
        ),
        and_(param("p", "not_in", ("a",)), param("q", "in", ("b",))),
    )


# -- precedence and grouping ------------------------------------------------------------

A, B, C, D = (metric(name, ">", 0.0) for name in "abcd")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.a > 0 or metrics.b > 0 and metrics.c > 0", or_(A, and_(B, C))),
        ("metrics.a > 0 and metrics.b > 0 or metrics.c > 0", or_(and_(A, B), C)),
        (
            "metrics.a > 0 and metrics.b > 0 or metrics.c > 0 and metrics.d > 0",
            or_(and_(A, B), and_(C, D)),
        ),
        ("(metrics.a > 0 or metrics.b > 0) and metrics.c > 0", and_(or_(A, B), C)),
        ("metrics.a > 0 and (metrics.b > 0 or metrics.c > 0)", and_(A, or_(B, C))),
        ("metrics.a > 0 and metrics.b > 0 and metrics.c > 0", and_(A, B, C)),
        ("metrics.a > 0 or metrics.b > 0 or metrics.c > 0", or_(A, B, C)),
        ("metrics.a > 0 and (metrics.b > 0 and metrics.c > 0)", and_(A, and_(B, C))),
        ("((metrics.a > 0))", A),
        ("(metrics.a > 0) or ((metrics.b > 0))", or_(A, B)),
    ],
)
def test_and_binds_tighter_than_or_and_parentheses_group(text: str, expected: Node) -> None:
    assert parse_filter(text) == expected


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "why"),
    [
        # unbalanced parentheses
        ("(status = 'FAILED'", 18, "expected ) but the filter ended"),
        ("((status = 'FAILED')", 20, "expected ) but the filter ended"),
        ("status = 'FAILED')", 17, "unexpected ')'"),
        ("()", 1, "expected a key"),
        # missing or bad values
        ("metrics.acc >", 13, "expected a value but the filter ended"),
        ("metrics.acc > and status = 'x'", 14, "expected a number or a 'quoted string'"),
        ("params.model = xgb", 15, "expected a number or a 'quoted string' but found 'xgb'"),
        ("params.x = 'unterminated", 11, 'unexpected character "\'"'),
        # unknown attribute
        ("colour = 'red'", 0, "unknown attribute 'colour'"),
        ("metrics.a > 1 and attributes.colour = 'red'", 18, "unknown attribute 'colour'"),
        ("metrics = 1", 0, "unknown attribute 'metrics'"),
        # number vs string
        ("metrics.acc = 'high'", 14, "metric 'acc' is a number"),
        ("params.lr = 0.1", 12, "param 'lr' is a string; quote the value: '0.1'"),
        ("tags.n = 3 and status = 'x'", 9, "tag 'n' is a string; quote the value: '3'"),
        ("start_time > 'yesterday'", 13, "attribute 'start_time' is a number"),
        ("status = 1", 9, "attribute 'status' is a string"),
        ("metrics.acc like '9%'", 17, "like works on strings"),
        ("end_time ilike '1%'", 15, "ilike works on strings"),
        ("params.x in ('a', 2)", 18, "param 'x' is a string"),
        ("metrics.x not in (1, 'two')", 21, "metric 'x' is a number"),
        # trailing garbage
        ("status = 'x' garbage", 13, "unexpected 'garbage'"),
        ("status = 'x' 'y'", 13, "unexpected \"'y'\""),
        ("status = 'x' and", 16, "expected a key such as metrics.acc but the filter ended"),
        ("metrics.acc > 1 ~", 16, "unexpected character '~'"),
        ("metrics.acc >   $ 1", 16, "unexpected character '$'"),
        # empty IN list
        ("params.x in ()", 13, "expected a number or a 'quoted string' but found ')'"),
        ("params.x in ('a',)", 17, "found ')'"),
        ("params.x in 'a'", 12, "expected ( but found \"'a'\""),
        ("params.x in ('a'", 16, "expected ) but the filter ended"),
        # other malformed comparisons
        ("metrics.acc", 11, "expected a comparison operator"),
        ("metrics.acc 1", 12, "expected a comparison operator"),
        ("metrics. = 1", 9, "expected a name after the dot"),
        ("metrics.acc is 1", 15, "expected null but found '1'"),
        ("metrics.acc is not", 18, "expected null but the filter ended"),
        ("params.x not like 'a'", 13, "expected in but found 'like'"),
        ("= 1", 0, "expected a key such as metrics.acc but found '='"),
        ("and status = 'x'", 0, "unknown attribute 'and'"),
    ],
)
def test_a_bad_filter_says_where_and_why(text: str, position: int, why: str) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter(text)

    message = str(caught.value)
    assert f"at position {position} " in message
    assert why in message
    assert repr(text) in message  # the filter itself, to show the user
    assert isinstance(caught.value, InvalidArgument)  # callers catch the broad error too
    assert isinstance(caught.value, ValueError)


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    text = "(" * 5000 + "status = 'x'" + ")" * 5000

    with pytest.raises(FilterSyntaxError, match="nest"):
        parse_filter(text)


def test_reasonable_nesting_parses() -> None:
    assert parse_filter("(" * 50 + "status = 'x'" + ")" * 50) == attr("status", "=", "x")


@pytest.mark.parametrize("value", [42, b"status = 'x'", ["status = 'x'"]])
def test_a_filter_that_is_not_a_string_is_a_syntax_error(value: object) -> None:
    with pytest.raises(FilterSyntaxError, match="must be a string"):
        parse_filter(value)  # type: ignore[arg-type]


# -- order_by ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clauses", "expected"),
    [
        (None, []),
        ([], []),
        ("metrics.acc", [OrderKey("metric", "acc", False)]),
        ("metrics.acc desc", [OrderKey("metric", "acc", True)]),
        ("metrics.acc DESC", [OrderKey("metric", "acc", True)]),
        ("params.lr Asc", [OrderKey("param", "lr", False)]),
        ("start_time", [OrderKey("attribute", "start_time", False)]),
        ("run_name desc", [OrderKey("attribute", "name", True)]),
        ("metrics.`val/loss` desc", [OrderKey("metric", "val/loss", True)]),
        (
            ["metrics.acc desc", "tags.team", "end_time asc"],
            [
                OrderKey("metric", "acc", True),
                OrderKey("tag", "team", False),
                OrderKey("attribute", "end_time", False),
            ],
        ),
        (("status desc",), [OrderKey("attribute", "status", True)]),
    ],
)
def test_parse_order_by(clauses: object, expected: list[OrderKey]) -> None:
    assert parse_order_by(clauses) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("clauses", "why"),
    [
        ("metrics.acc sideways", "order_by takes a key and an optional ASC or DESC"),
        ("metrics.acc desc desc", "order_by takes a key and an optional ASC or DESC"),
        ("metrics.acc desc, start_time", "order_by takes a key and an optional ASC or DESC"),
        ("colour", "unknown attribute 'colour'"),
        ("", "expected a key such as metrics.acc but the filter ended"),
        (["metrics.acc", "metrics."], "expected a name after the dot"),
        (["metrics.acc", 3], "an order_by clause is a string, not int"),
        (7, "order_by takes strings, not int"),
    ],
)
def test_a_bad_order_by_is_a_syntax_error(clauses: object, why: str) -> None:
    with pytest.raises(FilterSyntaxError, match=re.escape(why)):
        parse_order_by(clauses)  # type: ignore[arg-type]


# -- properties -------------------------------------------------------------------------

SIMPLE_NAME = re.compile(r"[A-Za-z_][\w\-]*(?:\.[A-Za-z_][\w\-]*)*")
NUMERIC_OPS = ["=", "!=", "<", "<=", ">", ">="]
OP_SPELLINGS = {"=": ["=", "=="], "!=": ["!=", "<>"]}
ATTRIBUTE_SPELLINGS = {"name": ["name", "run_name"], "run_id": ["run_id", "id"]}

finite_floats = st.floats(allow_nan=False, allow_infinity=False)
# quotes, backslashes and LIKE wildcards are where quoting goes wrong: draw them often
strings = st.text(st.characters() | st.sampled_from(["'", "\\", "%", "_", '"', "`"]), max_size=12)
names = st.from_regex(SIMPLE_NAME, fullmatch=True) | st.text(max_size=10).filter(
    lambda name: "`" not in name or '"' not in name
)


@st.composite
def comparisons(draw: st.DrawFn) -> Comparison:
    kind = draw(st.sampled_from(["metric", "param", "tag", "attribute"]))
    key = draw(st.sampled_from(sorted(ATTRIBUTES)) if kind == "attribute" else names)
    numeric = kind == "metric" or (kind == "attribute" and ATTRIBUTES[key] is float)
    values = finite_floats if numeric else strings
    ops = [*NUMERIC_OPS, "in", "not_in", "is_null", "not_null"]
    if not numeric:
        ops += ["like", "ilike"]
    op = draw(st.sampled_from(ops))
    if op in ("is_null", "not_null"):
        value = None
    elif op in ("in", "not_in"):
        value = tuple(draw(st.lists(values, min_size=1, max_size=4)))
    else:
        value = draw(values)
    return Comparison(kind, key, op, value)  # type: ignore[arg-type]


filter_trees = st.recursive(
    comparisons(),
    lambda children: st.builds(
        BoolOp,
        st.sampled_from(["and", "or"]),
        st.lists(children, min_size=2, max_size=4).map(tuple),
    ),
    max_leaves=10,
)


class Renderer:
    """Writes an AST as filter text, varying everything the language leaves free."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def word(self, word: str) -> str:
        return self.rng.choice([word, word.upper(), word.title()])

    def space(self) -> str:
        return self.rng.choice([" ", " ", "  ", "\n", "\t "])

    def render(self, node: Node) -> str:
        text = self.node(node)
        return f"({text})" if self.rng.random() < 0.1 else text

    def node(self, node: Node) -> str:
        if isinstance(node, Comparison):
            return self.comparison(node)
        parts = []
        for item in node.items:
            # minimal parentheses: only where precedence or flattening needs them ...
            needs = isinstance(item, BoolOp) and (item.op == node.op or item.op == "or")
            text = self.node(item)
            # ... plus a few that change nothing
            parts.append(f"({text})" if needs or self.rng.random() < 0.15 else text)
        return f"{self.space()}{self.word(node.op)}{self.space()}".join(parts)

    def comparison(self, node: Comparison) -> str:
        key = self.key(node)
        if node.op == "is_null":
            return f"{key} {self.word('is')} {self.word('null')}"
        if node.op == "not_null":
            return f"{key} {self.word('is')} {self.word('not')} {self.word('null')}"
        if node.op in ("in", "not_in"):
            words = self.word("in") if node.op == "in" else f"{self.word('not')} {self.word('in')}"
            values = ("," + self.space()).join(self.value(v) for v in node.value)  # type: ignore[union-attr]
            return f"{key} {words} ({values})"
        if node.op in ("like", "ilike"):
            return f"{key} {self.word(node.op)} {self.value(node.value)}"
        op = self.rng.choice(OP_SPELLINGS.get(node.op, [node.op]))
        return f"{key}{self.space()}{op}{self.space()}{self.value(node.value)}"

    def key(self, node: Comparison) -> str:
        if node.kind == "attribute":
            name = self.rng.choice(ATTRIBUTE_SPELLINGS.get(node.key, [node.key]))
            prefix = self.rng.choice(["", "attributes.", "attr.", "ATTRIBUTE."])
            return prefix + self.word(name)
        prefix = self.word(self.rng.choice([node.kind, node.kind + "s"]))
        return f"{prefix}.{self.name(node.key)}"

    def name(self, name: str) -> str:
        if SIMPLE_NAME.fullmatch(name) and self.rng.random() < 0.7:
            return name
        return f"`{name}`" if "`" not in name else f'"{name}"'

    def value(self, value: object) -> str:
        if isinstance(value, float):
            return repr(value)
        quote = self.rng.choice(["''", "\\'"])
        return "'" + str(value).replace("\\", "\\\\").replace("'", quote) + "'"


@settings(max_examples=120, deadline=None)
@given(tree=filter_trees, rng=st.randoms(use_true_random=False))
def test_rendered_trees_parse_back_to_themselves(tree: Node, rng: random.Random) -> None:
    text = Renderer(rng).render(tree)

    assert parse_filter(text) == tree, text


TOKENS = [
    "metrics.acc",
    "params.p",
    "tags.t",
    "status",
    "start_time",
    "attr",
    "bogus",
    "metrics",
    ".",
    "`odd`",
    '"q"',
    "(",
    ")",
    ",",
    "and",
    "or",
    "not",
    "in",
    "is",
    "null",
    "like",
    "ilike",
    "=",
    "==",
    "!=",
    "<>",
    "<",
    ">=",
    "'a'",
    "'it''s'",
    "'",
    "\\",
    "1",
    "-2.5",
    "1e3",
    ".5",
    "é",
    "$",
]
token_soup = st.lists(st.sampled_from(TOKENS), max_size=12).flatmap(
    lambda tokens: st.sampled_from([" ".join(tokens), "".join(tokens)])
)


@settings(max_examples=400, deadline=None)
@given(text=st.text(max_size=40) | token_soup)
def test_any_text_parses_or_raises_a_filter_syntax_error(text: str) -> None:
    try:
        node = parse_filter(text)
    except FilterSyntaxError as error:
        assert "position" in str(error)
        return
    assert node is None or isinstance(node, Comparison | BoolOp)
    assert (node is None) == (text.strip() == "")


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=30) | token_soup)
def test_any_order_by_text_parses_or_raises_a_filter_syntax_error(text: str) -> None:
    try:
        keys = parse_order_by(text)
    except FilterSyntaxError:
        return
    assert len(keys) == 1
    assert keys[0].kind in ("metric", "param", "tag", "attribute")
