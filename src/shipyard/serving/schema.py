"""Check request columns against a model's signature and build the frame it predicts on.

A request arrives as columns (name -> list of JSON values). Each signature input must be
there with values of its type; the frame is built in signature order with the dtypes the
model was trained on, so a model never sees a string where it expects a number.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import InvalidInput

Columns = dict[str, list[Any]]
_NUMBER = (int, float)
_FLOATS = {float, int}  # what becomes a float64 as is (bool, a subclass of int, does not)


def _where(values: list[Any], ok: Callable[[Any], bool]) -> int | None:
    """Index of the first value that is not ok, or None."""
    for i, v in enumerate(values):
        if not ok(v):
            return i
    return None


def _is_double(v: Any) -> bool:
    return v is None or (type(v) in _NUMBER)


def _is_long(v: Any) -> bool:
    return type(v) is int or (type(v) is float and v.is_integer())


def _types(values: Any) -> set[type]:
    """The types of ``values`` (an iterable), found in one C loop."""
    return set(map(type, values))


def _numbers(name: str, values: list[Any], dtype: Any) -> Any:
    """``values`` (checked numbers) as an array; one too large for ``dtype`` is named."""
    try:
        return np.array(values, dtype=dtype)
    except OverflowError:
        for i, v in enumerate(values):
            try:
                np.array([v], dtype=dtype)
            except OverflowError:
                message = f"input {name!r} has a number out of range in row {i}: {v!r:.40}"
                raise InvalidInput(message, name) from None
        raise


def _as_double(name: str, values: list[Any]) -> Any:
    if _types(values) <= _FLOATS:  # the common case, checked fastest
        return _numbers(name, values, np.float64)
    _check(name, values, _is_double, "a number")
    return _numbers(name, [np.nan if v is None else v for v in values], np.float64)


def _as_long(name: str, values: list[Any]) -> Any:
    if _types(values) != {int}:
        _check(name, values, _is_long, "an integer")
    return _numbers(name, values, np.int64)


def _as_bool(name: str, values: list[Any]) -> Any:
    _check(name, values, lambda v: type(v) is bool, "true or false")
    return np.array(values, dtype=bool)


def _as_string(name: str, values: list[Any]) -> Any:
    _check(name, values, lambda v: v is None or type(v) is str, "a string")
    return np.array(values, dtype=object)


def _as_datetime(name: str, values: list[Any]) -> Any:
    _check(name, values, lambda v: v is None or type(v) is str, "an ISO 8601 time string")
    try:
        return pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        message = f"input {name!r} has a value that is not an ISO time: {exc}"
        raise InvalidInput(message, name) from exc


def _as_binary(name: str, values: list[Any]) -> Any:
    _check(name, values, lambda v: type(v) is str, "a base64 string")
    try:
        return np.array([base64.b64decode(v, validate=True) for v in values], dtype=object)
    except binascii.Error as exc:
        raise InvalidInput(f"input {name!r} has a value that is not base64: {exc}", name) from exc


def _check(name: str, values: list[Any], ok: Callable[[Any], bool], expected: str) -> None:
    bad = _where(values, ok)
    if bad is not None:
        value = values[bad]
        shown = "null" if value is None else f"{type(value).__name__} {value!r:.40}"
        raise InvalidInput(f"input {name!r} must be {expected}; row {bad} has {shown}", name)


CONVERTERS: dict[str, Callable[[str, list[Any]], Any]] = {
    "double": _as_double,
    "float": _as_double,
    "long": _as_long,
    "integer": _as_long,
    "boolean": _as_bool,
    "string": _as_string,
    "datetime": _as_datetime,
    "binary": _as_binary,
}


class InputSchema:
    """The signature's inputs; an empty signature passes the request's columns through."""

    def __init__(self, signature: dict[str, Any]) -> None:
        self.inputs: list[tuple[str, str]] = [
            (str(c["name"]), str(c.get("type", "string"))) for c in signature.get("inputs", [])
        ]
        self.names = [name for name, _ in self.inputs]
        self.converters = [(name, CONVERTERS.get(kind, _as_string)) for name, kind in self.inputs]
        self.all_double = all(kind in ("double", "float") for _, kind in self.inputs)

    def missing(self, columns: Columns) -> list[str]:
        return [name for name in self.names if name not in columns]

    def frame(self, columns: Columns) -> pd.DataFrame:
        """The model's input frame, in signature order; extra columns are dropped."""
        if not self.inputs:
            return pd.DataFrame(columns)
        missing = self.missing(columns)
        if missing:
            raise InvalidInput(
                f"missing input {missing[0]!r}; the model expects {', '.join(self.names)}",
                missing[0],
            )
        data = {name: convert(name, columns[name]) for name, convert in self.converters}
        return pd.DataFrame(data, copy=False)

    def matrix(self, columns: Columns, order: list[str]) -> Any:
        """A float matrix with columns in ``order`` (numeric signatures only)."""
        missing = self.missing(columns)
        if missing:
            raise InvalidInput(
                f"missing input {missing[0]!r}; the model expects {', '.join(self.names)}",
                missing[0],
            )
        values = [columns[name] for name in order]
        if self.all_double and values and len(values[0]) == 1:  # one row: 1 x n at once
            row = [v[0] for v in values]
            if len(set(map(len, values))) == 1 and _types(row) <= _FLOATS:
                with contextlib.suppress(OverflowError):
                    return np.array([row], dtype=np.float64)
        if self.all_double and all(_types(column) <= _FLOATS for column in values):
            with contextlib.suppress(OverflowError):  # else named column by column below
                return np.array(values, dtype=np.float64).T  # the common case, in one call
        convert = dict(self.converters)
        return np.column_stack([convert[name](name, columns[name]) for name in order]).astype(
            np.float64, copy=False
        )
