"""Column access shared by profiles and drift: one column at a time, never a copy of a frame.

A frame is a pandas DataFrame or a pyarrow Table. Each column is reduced to what the
statistics need: for a numeric column the sorted non-null values as float64, for a
categorical column the count of each category keyed by ``str(value)``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from shipyard.errors import InvalidArgument

Kind = Literal["numeric", "categorical"]
NUMERIC: Kind = "numeric"
CATEGORICAL: Kind = "categorical"
N_BINS = 10


def _is_arrow_table(frame: Any) -> bool:
    return type(frame).__module__.startswith("pyarrow") and hasattr(frame, "column_names")


def check_frame(frame: Any, role: str) -> None:
    if not isinstance(frame, pd.DataFrame) and not _is_arrow_table(frame):
        raise InvalidArgument(
            f"{role} must be a pandas DataFrame or a pyarrow Table, not {type(frame).__name__}"
        )


def column_names(frame: Any) -> list[str]:
    """The frame's column names as strings, in order; a name that appears twice is refused."""
    names = [
        str(c) for c in (frame.columns if isinstance(frame, pd.DataFrame) else frame.column_names)
    ]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidArgument(f"column {name!r} appears more than once; rename it first")
        seen.add(name)
    return names


def row_count(frame: Any) -> int:
    return len(frame) if isinstance(frame, pd.DataFrame) else int(frame.num_rows)


def column(frame: Any, name: str) -> pd.Series:
    """One column as a Series (a view for pandas; one column converted for pyarrow)."""
    if isinstance(frame, pd.DataFrame):
        for label in frame.columns:
            if str(label) == name:
                return frame[label]
        raise KeyError(name)
    series: pd.Series = frame.column(name).to_pandas()
    return series


def kind_of(dtype: Any) -> Kind | None:
    """numeric or categorical, from the dtype alone; None for anything else (datetimes…)."""
    if (
        ptypes.is_bool_dtype(dtype)
        or ptypes.is_object_dtype(dtype)
        or ptypes.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    ):
        return CATEGORICAL
    if ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype):
        return NUMERIC
    return None


def numeric_values(series: pd.Series) -> tuple[np.ndarray, int]:
    """The non-null values sorted ascending as float64, and the number of nulls (NaN/NA)."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype):
        arr = series.to_numpy(dtype=np.float64, copy=False)
    else:
        arr = series.to_numpy(dtype=np.float64, na_value=np.nan)
    nulls = np.isnan(arr)
    n_nulls = int(np.count_nonzero(nulls))
    values = np.sort(arr[~nulls] if n_nulls else arr)
    return values, n_nulls


def category_counts(series: pd.Series) -> tuple[list[str], np.ndarray, int]:
    """Distinct non-null values as ``str`` and their counts (first-seen order), and the
    number of nulls. Values whose ``str`` is the same (``1`` and ``"1"``) are merged."""
    vc = series.value_counts(dropna=True, sort=False)
    counts = vc.to_numpy(dtype=np.int64)
    keep = counts > 0  # a categorical dtype lists its unused categories with 0
    keys = [str(k) for k in vc.index[keep]]
    counts = counts[keep]
    nulls = len(series) - int(counts.sum())
    if len(set(keys)) != len(keys):
        merged: dict[str, int] = {}
        for key, count in zip(keys, counts.tolist(), strict=True):
            merged[key] = merged.get(key, 0) + count
        keys, counts = list(merged), np.array(list(merged.values()), dtype=np.int64)
    return keys, counts, nulls


def quantile_edges(sorted_values: np.ndarray) -> np.ndarray:
    """The 11 edges of 10 quantile bins (``np.quantile``, linear) of the finite values."""
    lo = int(np.searchsorted(sorted_values, -np.inf, side="right"))
    hi = int(np.searchsorted(sorted_values, np.inf, side="left"))
    finite = sorted_values[lo:hi]
    if finite.size == 0:
        return np.empty(0)
    return np.asarray(np.quantile(finite, np.linspace(0.0, 1.0, N_BINS + 1)), dtype=np.float64)


def bin_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts in the 10 bins of ``edges``: bin 0 is (-inf, e1), bin k is [e_k, e_k+1),
    bin 9 is [e9, +inf); i.e. a value's bin is the number of inner edges <= it."""
    inner = np.searchsorted(sorted_values, edges[1:-1], side="left")
    return np.diff(np.concatenate(([0], inner, [sorted_values.size]))).astype(np.int64)
