"""The signature check turns JSON columns into exactly what the model was trained on."""

from __future__ import annotations

import numpy as np
import pytest

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
