"""Promotion gates: small comparisons a candidate version must pass before an alias moves.

    metrics.auc >= champion.metrics.auc     not worse than what is live now
    metrics.latency_ms < 50                 an absolute bar
    tags.reviewed == "yes"                  a tag set at registration
    tests passed                            shorthand for  tags.tests == "passed"  (e.g. by CI)

A gate is ``OPERAND OP OPERAND``; operands are ``metrics.NAME``, ``tags.NAME``, the same
prefixed with ``champion.`` (the version the alias points at now), numbers and quoted
strings. The grammar is deliberately tiny: a gate is recorded with the move as its text,
so anyone reading the alias history must understand it at a glance.

Evaluation never raises: a missing metric or tag fails the gate with a detail saying so,
and a gate that reads the champion holds when there is no champion yet.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shipyard.errors import InvalidArgument
from shipyard.store.base import ModelVersionRecord

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
    "==": operator.eq, "!=": operator.ne,
}  # fmt: skip
NEGATION = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!=", "!=": "=="}
ORDERING = frozenset({">=", ">", "<=", "<"})
SHORTHAND_VALUE = "passed"
ALLOWED = (
    "a gate is OPERAND OP OPERAND with OP one of >= > <= < == != and operands metrics.NAME, "
    "tags.NAME, champion.metrics.NAME, champion.tags.NAME, a number or a quoted string; "
    "or WORD passed (the version's tag WORD is 'passed')"
)
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<op>>=|<=|==|!=|>|<)
    | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
    | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<word>[A-Za-z_][\w\-./:]*)
    )""",
    re.VERBOSE,
)
_REFERENCE = re.compile(r"(?P<champion>champion\.)?(?P<kind>metrics|tags)\.(?P<name>[\w\-./:]+)")

Kind = Literal["metric", "tag", "number", "string"]


@dataclass(frozen=True)
class Operand:
    """One side of a gate: a reference to a version's metric or tag, or a constant."""

    kind: Kind
    value: float | str  # the metric or tag name for references, else the constant
    champion: bool = False

    @property
    def is_reference(self) -> bool:
        return self.kind in ("metric", "tag")


@dataclass(frozen=True)
class Gate:
    text: str
    left: Operand
    op: str
    right: Operand

    @property
    def reads_champion(self) -> bool:
        return self.left.champion or self.right.champion


def parse_gate(text: str) -> Gate:
    """The gate in ``text``; InvalidArgument naming it and the grammar when it does not parse."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidArgument(f"empty promotion gate {text!r}: {ALLOWED}")
    tokens = _tokens(text)
    if len(tokens) == 2 and tokens[0][0] == "word" and tokens[1] == ("word", SHORTHAND_VALUE):
        tag = Operand("tag", tokens[0][1])
        return Gate(text.strip(), tag, "==", Operand("string", SHORTHAND_VALUE))
    if len(tokens) != 3 or tokens[1][0] != "op":
        raise InvalidArgument(f"promotion gate {text!r} does not parse: {ALLOWED}")
    left, right = _operand(text, tokens[0]), _operand(text, tokens[2])
    if not (left.is_reference or right.is_reference):
        raise InvalidArgument(
            f"promotion gate {text!r} compares two constants; one side must be a metric or "
            "a tag of the version (metrics.NAME, tags.NAME, champion.…)"
        )
    return Gate(text.strip(), left, tokens[1][1], right)


def parse_gates(texts: Iterable[str]) -> list[Gate]:
    """All gates parsed before any is evaluated: a typo fails the promotion up front."""
    return [parse_gate(t) for t in texts]


def evaluate(
    gate: Gate, candidate: ModelVersionRecord, champion: ModelVersionRecord | None
) -> dict[str, Any]:
    """{"gate", "passed", "detail"}; a gate that reads an absent champion holds."""
    if gate.reads_champion and champion is None:
        return _result(gate, True, "no champion yet")
    sides = []
    for operand in (gate.left, gate.right):
        version = champion if operand.champion and champion is not None else candidate
        value = _value(operand, version)
        if isinstance(value, _Missing):
            return _result(gate, False, value.detail)
        sides.append(value)
    return _compare(gate, sides[0], sides[1])


def evaluate_gates(
    gates: Iterable[Gate], candidate: ModelVersionRecord, champion: ModelVersionRecord | None
) -> list[dict[str, Any]]:
    return [evaluate(g, candidate, champion) for g in gates]


# -- parsing ---------------------------------------------------------------------------


def _tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position, end = 0, len(text.rstrip())
    while position < end:
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            raise InvalidArgument(
                f"promotion gate {text!r}: cannot read {text[position:].strip()!r}; {ALLOWED}"
            )
        found.append((match.lastgroup, match[match.lastgroup]))
        position = match.end()
    return found


def _operand(text: str, token: tuple[str, str]) -> Operand:
    kind, raw = token
    if kind == "number":
        return Operand("number", float(raw))
    if kind == "string":
        return Operand("string", re.sub(r"\\(.)", r"\1", raw[1:-1]))
    reference = _REFERENCE.fullmatch(raw) if kind == "word" else None
    if reference is None:
        raise InvalidArgument(f"promotion gate {text!r}: {raw!r} is not an operand; {ALLOWED}")
    which: Kind = "metric" if reference["kind"] == "metrics" else "tag"
    return Operand(which, reference["name"], champion=bool(reference["champion"]))


# -- evaluation ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Missing:
    detail: str


def _value(operand: Operand, version: ModelVersionRecord) -> float | str | _Missing:
    if not operand.is_reference:
        return operand.value
    name = str(operand.value)
    found: Mapping[str, Any] = version.metrics if operand.kind == "metric" else version.tags
    if name not in found:
        who = "the champion" if operand.champion else "the candidate"
        known = ", ".join(sorted(found)) or "none"
        return _Missing(
            f"{who} (version {version.version}) has no {operand.kind} {name!r} "
            f"(its {operand.kind}s: {known})"
        )
    value = found[name]
    return float(value) if operand.kind == "metric" else str(value)


def _compare(gate: Gate, left: float | str, right: float | str) -> dict[str, Any]:
    """Numbers when either side is a number or the operator orders; strings otherwise."""
    numeric = isinstance(left, float) or isinstance(right, float) or gate.op in ORDERING
    if numeric:
        a, b = _number(left), _number(right)
        if a is None or b is None:
            bad = left if a is None else right
            return _result(gate, False, f"{_show(bad)} is not a number, so {gate.op} cannot hold")
        left, right = a, b
    passed = bool(OPERATORS[gate.op](left, right))
    if passed:
        return _result(gate, True, f"{_show(left)} {gate.op} {_show(right)}")
    if any(isinstance(v, float) and math.isnan(v) for v in (left, right)):
        return _result(gate, False, f"{_show(left)} {gate.op} {_show(right)} is false (NaN)")
    # a failure states what is true instead: "0.85 < 0.88"
    return _result(gate, False, f"{_show(left)} {NEGATION[gate.op]} {_show(right)}")


def _number(value: float | str) -> float | None:
    if isinstance(value, float):
        return value
    try:
        return float(value)
    except ValueError:
        return None


def _show(value: float | str) -> str:
    if isinstance(value, str):
        return repr(value)
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _result(gate: Gate, passed: bool, detail: str) -> dict[str, Any]:
    return {"gate": gate.text, "passed": passed, "detail": detail}
