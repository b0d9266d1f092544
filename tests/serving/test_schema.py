"""The signature check turns JSON columns into exactly what the model was trained on."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.errors import InvalidInput
from shipyard.serving.schema import InputSchema

DOUBLES = InputSchema(
    {"inputs": [{"name": "a", "type": "double"}, {"name": "b", "type": "double"}]}
)


def test_a_float_matrix_in_the_fitted_order_whatever_the_json_numbers_look_like():
    floats = DOUBLES.matrix({"b": [2.5, 4.0], "a": [1.0, 3.0], "extra": ["x", "y"]}, ["a", "b"])
    mixed = DOUBLES.matrix({"b": [2.5, 4], "a": [1, 3.0]}, ["a", "b"])  # ints are numbers too
    for m in (floats, mixed):
        assert m.dtype == np.float64 and m.tolist() == [[1.0, 2.5], [3.0, 4.0]]
    assert DOUBLES.matrix({"a": [1.0], "b": [2.0]}, ["b", "a"]).tolist() == [[2.0, 1.0]]
    with_null = DOUBLES.matrix({"a": [None], "b": [2.0]}, ["a", "b"])
    assert np.isnan(with_null[0, 0])


@pytest.mark.parametrize(
    ("columns", "field", "message"),
    [
        ({"a": [1.0], "b": ["2"]}, "b", "input 'b' must be a number; row 0 has str '2'"),
        ({"a": [1.0], "b": [True]}, "b", "row 0 has bool True"),
        ({"a": [1.0]}, "b", "missing input 'b'"),
    ],
)
def test_what_is_not_a_number_is_named(columns, field, message):
    with pytest.raises(InvalidInput, match=message) as caught:
        DOUBLES.matrix(columns, ["a", "b"])
    assert caught.value.field == field


LONGS = InputSchema({"inputs": [{"name": "n", "type": "long"}]})
numbers = (
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats() | st.text(max_size=2)
)


@given(st.lists(numbers, min_size=1, max_size=6), st.lists(numbers, min_size=1, max_size=6))
def test_every_value_that_is_not_a_number_is_refused_at_its_row(a, b):
    n = min(len(a), len(b))
    columns = {"a": a[:n], "b": b[:n]}
    first_bad = [
        (name, i)
        for name in ("a", "b")
        for i, v in enumerate(columns[name])
        if not (v is None or type(v) in (int, float))
    ]
    if first_bad:
        with pytest.raises(InvalidInput, match=f"row {first_bad[0][1]} has") as caught:
            DOUBLES.matrix(columns, ["a", "b"])
        assert caught.value.field == first_bad[0][0]
    else:
        m = DOUBLES.matrix(columns, ["a", "b"])
        expected = [
            [np.nan if v is None else float(v) for v in r] for r in zip(a[:n], b[:n], strict=True)
        ]
        np.testing.assert_array_equal(m, np.array(expected, dtype=np.float64))


@given(st.lists(numbers | st.integers() | st.floats(-1e20, 1e20), min_size=1, max_size=6))
def test_long_columns_take_integers_and_whole_floats_in_range_only(values):
    bad = [i for i, v in enumerate(values) if not _integral(v)]
    large = [i for i, v in enumerate(values) if not bad and not -(2**63) <= v < 2**63]
    if bad:
        with pytest.raises(InvalidInput, match=f"must be an integer; row {bad[0]} has"):
            LONGS.frame({"n": values})
    elif large:
        with pytest.raises(InvalidInput, match=f"out of range in row {large[0]}"):
            LONGS.frame({"n": values})
    else:
        assert LONGS.frame({"n": values})["n"].tolist() == [int(v) for v in values]


def test_a_number_too_large_for_a_double_is_named():
    with pytest.raises(InvalidInput, match="input 'b' has a number out of range in row 1"):
        DOUBLES.matrix({"a": [1.0, 2.0], "b": [1.0, 10**400]}, ["a", "b"])


def _integral(v: object) -> bool:
    return type(v) is int or (type(v) is float and v.is_integer())


def test_one_row_is_a_one_by_n_matrix_checked_like_any_other():
    one = DOUBLES.matrix({"b": [2], "a": [1.5]}, ["a", "b"])
    assert one.shape == (1, 2) and one.dtype == np.float64 and one.tolist() == [[1.5, 2.0]]
    with pytest.raises(InvalidInput, match="input 'b' has a number out of range in row 0"):
        DOUBLES.matrix({"a": [1.0], "b": [10**400]}, ["a", "b"])
    with pytest.raises(InvalidInput, match="input 'a' must be a number; row 0 has bool True"):
        DOUBLES.matrix({"a": [True], "b": [1.0]}, ["a", "b"])
