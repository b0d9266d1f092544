"""Request bodies to columns: the fast checks (done in C over the whole body) accept and
refuse exactly what a row-by-row check does, with the same message."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.errors import InvalidInput
from shipyard.serving import payloads

NAMES = ["a", "b", "c"]
values = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=3)
)
rows = st.lists(st.lists(values, max_size=4) | values, max_size=5)
records = st.lists(
    st.dictionaries(st.sampled_from(["a", "b", "c"]), values, max_size=3) | values, max_size=5
)


def rows_by_row(rows: Any, names: list[str]) -> tuple[dict[str, list[Any]], int]:
    """The reference: every row checked in turn, then transposed."""
    if not isinstance(rows, list) or not rows:
        raise InvalidInput("data must be a non-empty list of rows")
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(names):
            raise InvalidInput(
                f"data row {i} must be a list of {len(names)} values ({', '.join(names)})"
            )
    return {name: [row[j] for row in rows] for j, name in enumerate(names)}, len(rows)


def records_by_record(records: Any) -> tuple[dict[str, list[Any]], int]:
    if not isinstance(records, list) or not records:
        raise InvalidInput("records must be a non-empty list of objects")
    names: dict[str, None] = {}
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidInput(f"record {i} is a {payloads._kind(record)}, not an object")
        names.update(dict.fromkeys(record))
    columns = {}
    for name in names:
        for i, record in enumerate(records):
            if name not in record:
                raise InvalidInput(f"record {i} has no {name!r} (record 0 has it)", name)
        columns[name] = [record[name] for record in records]
    return columns, len(records)


def outcome(fn: Any, *args: Any) -> Any:
    try:
        columns, n = fn(*args)
    except InvalidInput as exc:
        return "error", exc.message
    return [(k, v) for k, v in columns.items()], n  # in order


@given(rows)
def test_rows_are_checked_and_transposed_like_row_by_row(rows):
    assert outcome(payloads.from_rows, rows, NAMES, "data") == outcome(rows_by_row, rows, NAMES)


@given(records)
def test_records_are_checked_and_transposed_like_record_by_record(records):
    assert outcome(payloads.from_records, records) == outcome(records_by_record, records)


@pytest.mark.parametrize(
    ("split", "says"),
    [
        ({"columns": ["a", 1], "data": [[1, 2]]}, "columns must be a list of names"),
        ({"columns": "ab", "data": [[1, 2]]}, "columns must be a list of names"),
        ({"data": [[1, 2]]}, "row 0 must be a list of 3 values"),
    ],
)
def test_dataframe_split_columns_are_names(split, says):
    with pytest.raises(InvalidInput, match=says):
        payloads.mlflow({"dataframe_split": split}, NAMES)


def test_dataframe_split_without_columns_takes_the_signature_order():
    columns, n = payloads.mlflow({"dataframe_split": {"data": [[1, 2, 3], [4, 5, 6]]}}, NAMES)
    assert (columns, n) == ({"a": [1, 4], "b": [2, 5], "c": [3, 6]}, 2)
