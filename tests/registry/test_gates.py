"""Promotion gates: the grammar, their evaluation, and promotions that move only when every
gate holds, recording the results with the move."""

from __future__ import annotations

import math
import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

import shipyard.registry.models as models_module
from shipyard.errors import Conflict, GateFailed, InvalidArgument
from shipyard.registry import ModelRegistry, parse_gate
from shipyard.registry.gates import Gate, Operand, evaluate, evaluate_gates, parse_gates
from shipyard.store.base import ModelVersionRecord
from shipyard.tracking import Client


def _version(
    version: int = 2, metrics: dict[str, float] | None = None, tags: dict[str, str] | None = None
) -> ModelVersionRecord:
    return ModelVersionRecord(
        name="churn", version=version, flavor="sklearn", blob_hash="0" * 64, run_id=None,
        dataset=None, feature_service=None, signature={}, requirements=(),
        metrics=metrics or {}, owner="ana", description="", tags=tags or {}, status="READY",
        created_by="ana", created_ms=0,
    )  # fmt: skip


def _check(text: str, candidate: ModelVersionRecord, champion: ModelVersionRecord | None):  # type: ignore[no-untyped-def]
    return evaluate(parse_gate(text), candidate, champion)


# -- evaluation --------------------------------------------------------------------------


def test_a_gate_against_the_champion_passes_or_fails_with_the_numbers() -> None:
    champion = _version(1, {"auc": 0.88})
    better, worse = _version(2, {"auc": 0.91}), _version(3, {"auc": 0.85})
    gate = "metrics.auc >= champion.metrics.auc"
    assert _check(gate, better, champion) == {
        "gate": gate,
        "passed": True,
        "detail": "0.91 >= 0.88",
    }
    assert _check(gate, worse, champion) == {"gate": gate, "passed": False, "detail": "0.85 < 0.88"}


@pytest.mark.parametrize(
    ("text", "passed", "detail"),
    [
        ("metrics.latency_ms < 50", True, "42 < 50"),
        ("metrics.latency_ms<=41.5", False, "42 > 41.5"),
        ("metrics.latency_ms == 42", True, "42 == 42"),
        ("metrics.latency_ms != 42", False, "42 == 42"),
        ("50 > metrics.latency_ms", True, "50 > 42"),
        ("tags.reviewed == 'yes'", True, "'yes' == 'yes'"),
        ('tags.reviewed != "yes"', False, "'yes' == 'yes'"),
        ("tags.rows >= 1000", True, "1500 >= 1000"),
        ("tags.reviewed > 1", False, "'yes' is not a number, so > cannot hold"),
        ("tests passed", True, "'passed' == 'passed'"),
        ("lint passed", False, "'failed' != 'passed'"),
    ],
)
def test_numbers_tags_and_the_passed_shorthand(text: str, passed: bool, detail: str) -> None:
    candidate = _version(
        metrics={"latency_ms": 42.0},
        tags={"reviewed": "yes", "rows": "1500", "tests": "passed", "lint": "failed"},
    )
    assert _check(text, candidate, None) == {"gate": text, "passed": passed, "detail": detail}


def test_without_a_champion_gates_that_read_it_hold_and_the_others_still_count() -> None:
    candidate = _version(1, {"auc": 0.7})
    results = evaluate_gates(
        parse_gates(["metrics.auc >= champion.metrics.auc", "metrics.auc > 0.8"]), candidate, None
    )
    assert results[0] == {
        "gate": "metrics.auc >= champion.metrics.auc",
        "passed": True,
        "detail": "no champion yet",
    }
    assert results[1]["passed"] is False and results[1]["detail"] == "0.7 <= 0.8"


def test_a_missing_metric_or_tag_fails_the_gate_and_says_what_is_there() -> None:
    candidate = _version(3, {"auc": 0.9, "f1": 0.8})
    result = _check("metrics.recall > 0.5", candidate, None)
    assert result["passed"] is False
    assert "candidate (version 3) has no metric 'recall'" in result["detail"]
    assert "auc, f1" in result["detail"]
    champion_lacks = _check("metrics.f1 >= champion.metrics.f1", candidate, _version(1))
    assert champion_lacks["passed"] is False
    assert "champion (version 1) has no metric 'f1'" in champion_lacks["detail"]
    untagged = _check("tests passed", candidate, None)
    assert untagged["passed"] is False and "no tag 'tests'" in untagged["detail"]


def test_nan_never_passes() -> None:
    result = _check("metrics.auc >= 0.5", _version(metrics={"auc": math.nan}), None)
    assert result == {
        "gate": "metrics.auc >= 0.5",
        "passed": False,
        "detail": "nan >= 0.5 is false (NaN)",
    }


# -- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("auc >= 0.8", "'auc' is not an operand"),
        ("metrics.auc => 0.8", "cannot read '=> 0.8'"),
        ("metrics.auc >= ", "does not parse"),
        ("metrics.auc >= 0.8 0.9", "does not parse"),
        ("tests failed", "does not parse"),
        ("1 < 2", "compares two constants"),
        ("champion.auc > 1", "'champion.auc' is not an operand"),
        ("metrics.auc >= 'unterminated", "cannot read"),
        ("   ", "empty promotion gate"),
    ],
)
def test_parse_errors_name_the_gate_and_what_is_allowed(text: str, complaint: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_gate(text)
    message = str(caught.value)
    assert complaint in message
    assert "metrics.NAME" in message or "metric or a tag" in message
    if text.strip():
        assert repr(text) in message


def test_parse_reads_both_kinds_of_quotes_and_escapes() -> None:
    gate = parse_gate(r'tags.note == "say \"hi\""')
    assert gate.right == Operand("string", 'say "hi"')
    assert parse_gate("tags.x == 'a b'").right == Operand("string", "a b")
    assert parse_gate("champion.tags.x == tags.x").left == Operand("tag", "x", champion=True)


names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,12}(\.[a-z0-9]{1,4})?", fullmatch=True)
references = st.builds(
    lambda kind, name, champion: Operand(kind, name, champion),
    st.sampled_from(["metric", "tag"]),
    names,
    st.booleans(),
)
constants = st.builds(
    lambda x: Operand("number", x), st.floats(allow_nan=False, allow_infinity=False)
) | st.builds(
    lambda s: Operand("string", s),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=10),
)


def _render(operand: Operand) -> str:
    if operand.kind in ("metric", "tag"):
        prefix = "champion." if operand.champion else ""
        return f"{prefix}{operand.kind}s.{operand.value}"
    if operand.kind == "number":
        return repr(operand.value)
    escaped = str(operand.value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@settings(max_examples=300, deadline=None)
@given(
    left=references,
    op=st.sampled_from([">=", ">", "<=", "<", "==", "!="]),
    right=references | constants,
    swap=st.booleans(),
    spaces=st.sampled_from(["", " ", "  "]),
)
def test_rendered_gates_parse_back_to_themselves(
    left: Operand, op: str, right: Operand, swap: bool, spaces: str
) -> None:
    if swap:
        left, right = right, left
    text = f"{_render(left)}{spaces}{op}{spaces}{_render(right)}"
    assert parse_gate(text) == Gate(text, left, op, right)


@settings(max_examples=400, deadline=None)
@given(text=st.text(max_size=40) | st.lists(st.sampled_from(
    ["metrics.a", "champion.metrics.a", "tags.t", ">=", "<", "==", "!", "=", "'x'", '"', "1.5",
     "-2", "passed", "tests", " ", "e9", "."]
), max_size=6).map("".join))  # fmt: skip
def test_any_text_parses_or_is_refused_with_invalid_argument(text: str) -> None:
    try:
        gate = parse_gate(text)
    except InvalidArgument:
        return
    result = evaluate(gate, _version(metrics={"a": 1.0}, tags={"t": "x"}), _version(1))
    assert isinstance(result["passed"], bool) and result["gate"] == text.strip()


@settings(max_examples=300, deadline=None)
@given(
    value=st.floats(allow_nan=False),
    bar=st.floats(allow_nan=False, allow_infinity=False),
    op=st.sampled_from([">=", ">", "<=", "<", "==", "!="]),
)
def test_numeric_gates_agree_with_python(value: float, bar: float, op: str) -> None:
    compare = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
    compare |= {"==": operator.eq, "!=": operator.ne}
    result = _check(f"metrics.m {op} {bar!r}", _version(metrics={"m": value}), None)
    assert result["passed"] is compare[op](value, bar)


# -- promotion -----------------------------------------------------------------------------


@pytest.fixture
def registry(shipyard_client: Client) -> ModelRegistry:
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 2)), rng.integers(0, 2, 40)
    registry = ModelRegistry(shipyard_client)
    for auc, tests in ((0.88, "passed"), (0.91, "passed"), (0.85, "failed")):
        registry.register_model(
            "churn", LogisticRegression().fit(X, y), metrics={"auc": auc}, tags={"tests": tests}
        )
    return registry


GATES = ["metrics.auc >= champion.metrics.auc", "tests passed"]


def test_a_passed_promotion_moves_and_records_the_gate_results(registry: ModelRegistry) -> None:
    first = registry.promote("churn", 1, "production", GATES)
    assert (first.from_version, first.to_version) == (None, 1)
    assert [g["detail"] for g in first.gates] == ["no champion yet", "'passed' == 'passed'"]
    second = registry.promote("churn", 2, "production", GATES)
    assert (second.from_version, second.to_version) == (1, 2)
    history = registry.alias_history("churn", "production")
    assert [m.gates for m in history] == [second.gates, first.gates]
    assert history[0].gates[0] == {
        "gate": "metrics.auc >= champion.metrics.auc",
        "passed": True,
        "detail": "0.91 >= 0.88",
    }
    assert registry.get_model("churn").aliases == {"production": 2}


def test_a_failed_promotion_moves_nothing_and_records_nothing(registry: ModelRegistry) -> None:
    registry.promote("churn", 2, "production", GATES)
    before = registry.alias_history("churn")
    with pytest.raises(GateFailed) as caught:
        registry.promote("churn", 3, "production", GATES)
    message = caught.value.message
    assert "2 of 2 gates failed" in message and "0.85 < 0.91" in message
    assert "tests passed ('failed' != 'passed')" in message
    assert [r["passed"] for r in caught.value.results] == [False, False]
    assert registry.alias_history("churn") == before
    assert registry.get_model("churn").aliases == {"production": 2}


def test_a_gate_that_does_not_parse_fails_before_anything_is_read(registry: ModelRegistry) -> None:
    with pytest.raises(InvalidArgument, match="auc >= 1"):
        registry.promote("churn", 1, "production", ["tests passed", "auc >= 1"])
    assert registry.alias_history("churn") == []


def test_promotion_without_gates_is_a_recorded_move(registry: ModelRegistry) -> None:
    move = registry.promote("churn", 3, "staging")
    assert (move.alias, move.to_version, move.gates) == ("staging", 3, [])


def test_a_champion_moved_during_the_checks_refuses_the_promotion(
    registry: ModelRegistry, shipyard_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.promote("churn", 1, "production")
    rival = ModelRegistry(Client())

    def evaluate_while_someone_promotes(*args, **kwargs):  # type: ignore[no-untyped-def]
        results = evaluate_gates(*args, **kwargs)
        rival.set_alias("churn", "production", 3)  # lands between the checks and the move
        return results

    monkeypatch.setattr(models_module, "evaluate_gates", evaluate_while_someone_promotes)
    with pytest.raises(Conflict, match="moved meanwhile"):
        registry.promote("churn", 2, "production", GATES)
    assert registry.get_model("churn").aliases == {"production": 3}
    assert [m.to_version for m in registry.alias_history("churn")] == [3, 1]
    rival.client.close()


def test_an_archived_version_cannot_be_promoted(registry: ModelRegistry) -> None:
    registry.store.set_version_status("churn", 2, "ARCHIVED")
    with pytest.raises(Conflict, match="ARCHIVED"):
        registry.promote("churn", 2, "production")
    with pytest.raises(Conflict, match="ARCHIVED"):  # and the store refuses on its own
        registry.set_alias("churn", "production", 2)
    assert registry.alias_history("churn") == []
