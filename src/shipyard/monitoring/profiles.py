"""Reference profiles: a small, JSON-safe summary of a frame, one entry per column.

    profile(frame, columns=None) -> Profile
    Profile.to_json() -> dict            Profile.from_json(dict) -> Profile

Per column: its kind (``numeric`` or ``categorical``, from the dtype alone: bool, object,
string and category columns are categorical, other numbers numeric), row and null counts,
and

* numeric: min, max, mean, std (population), the 11 edges of 10 quantile bins of the finite
  values (``np.quantile``, linear) and the count of values in each bin. Bin 0 is
  ``(-inf, e1)``, bin k ``[e_k, e_k+1)``, bin 9 ``[e9, +inf)``: the first and last bins are
  open-ended, so every value of a later window has a bin. Repeated edges leave bins empty.
* categorical: the count of each category keyed by ``str(value)``, the ``category_cap``
  (default 1,000) most frequent only; the values of the others are summed in
  ``other_count`` and ``distinct`` says how many categories there were.

Columns of other dtypes (datetimes, timedeltas, complex numbers…) are not profiled: they
are listed in ``Profile.skipped`` with the reason, or refused when named in ``columns``.
NaN, None and pandas NA are nulls; ``±inf`` are values (they fall in the outer bins).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.errors import InvalidArgument
from shipyard.monitoring import _stats_columns as cols

FORMAT = "shipyard.profile/1"
DEFAULT_CATEGORY_CAP = 1000


@dataclass(frozen=True)
class ColumnProfile:
    """The profile of one column; numeric fields are None (empty) for categorical columns
    and the other way round."""

    name: str
    kind: cols.Kind
    dtype: str
    rows: int
    nulls: int
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    bin_edges: tuple[float, ...] = ()
    bin_counts: tuple[int, ...] = ()
    categories: Mapping[str, int] = field(default_factory=dict)
    other_count: int = 0
    distinct: int = 0

    @property
    def null_rate(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0

    @property
    def non_null(self) -> int:
        return self.rows - self.nulls

    @property
    def capped(self) -> bool:
        """True when categories beyond the cap were folded into ``other_count``."""
        return self.distinct > len(self.categories)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "dtype": self.dtype,
            "rows": self.rows,
            "nulls": self.nulls,
        }
        if self.kind == cols.NUMERIC:
            out.update(
                min=_num(self.min),
                max=_num(self.max),
                mean=_num(self.mean),
                std=_num(self.std),
                bin_edges=[_num(e) for e in self.bin_edges],
                bin_counts=list(self.bin_counts),
            )
        else:
            out.update(
                categories=dict(self.categories),
                other_count=self.other_count,
                distinct=self.distinct,
            )
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ColumnProfile:
        kind = data["kind"]
        if kind not in (cols.NUMERIC, cols.CATEGORICAL):
            raise ValueError(f"unknown kind {kind!r}")
        common = {
            "name": str(data["name"]),
            "kind": kind,
            "dtype": str(data["dtype"]),
            "rows": int(data["rows"]),
            "nulls": int(data["nulls"]),
        }
        if kind == cols.NUMERIC:
            return cls(
                **common,
                min=_unnum(data.get("min")),
                max=_unnum(data.get("max")),
                mean=_unnum(data.get("mean")),
                std=_unnum(data.get("std")),
                bin_edges=tuple(float(_unnum(e)) for e in data["bin_edges"]),  # type: ignore[arg-type]
                bin_counts=tuple(int(c) for c in data["bin_counts"]),
            )
        return cls(
            **common,
            categories={str(k): int(v) for k, v in data["categories"].items()},
            other_count=int(data["other_count"]),
            distinct=int(data["distinct"]),
        )


@dataclass(frozen=True)
class Profile:
    """A frame's profile: ``rows``, ``columns`` (name -> ColumnProfile, in frame order),
    ``skipped`` (name -> why it has no profile) and the ``category_cap`` used."""

    rows: int
    columns: Mapping[str, ColumnProfile]
    skipped: Mapping[str, str] = field(default_factory=dict)
    category_cap: int = DEFAULT_CATEGORY_CAP

    def to_json(self) -> dict[str, Any]:
        """A dict of plain JSON types (non-finite floats as "NaN", "Infinity", "-Infinity")."""
        return {
            "format": FORMAT,
            "rows": self.rows,
            "category_cap": self.category_cap,
            "columns": [c.to_json() for c in self.columns.values()],
            "skipped": dict(self.skipped),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Profile:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise InvalidArgument(
                f"not a Shipyard profile: expected a dict with format {FORMAT!r}, "
                "as written by Profile.to_json()"
            )
        try:
            columns = [ColumnProfile.from_json(c) for c in data["columns"]]
            return cls(
                rows=int(data["rows"]),
                columns={c.name: c for c in columns},
                skipped={str(k): str(v) for k, v in data.get("skipped", {}).items()},
                category_cap=int(data["category_cap"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidArgument(
                f"damaged Shipyard profile ({exc!r}); profile the data again"
            ) from exc


def profile(
    frame: Any, *, columns: Sequence[str] | None = None, category_cap: int = DEFAULT_CATEGORY_CAP
) -> Profile:
    """Profile ``frame`` (a pandas DataFrame or pyarrow Table), column by column.

    ``columns`` restricts (and orders) the profiled columns; naming a column that is missing
    or neither numeric nor categorical raises InvalidArgument. Without it every column is
    profiled and the others are listed in ``Profile.skipped``."""
    cols.check_frame(frame, "profile(frame)")
    if category_cap < 1:
        raise InvalidArgument(f"category_cap must be at least 1, got {category_cap}")
    available = cols.column_names(frame)
    wanted = list(available) if columns is None else [str(c) for c in columns]
    missing = [c for c in wanted if c not in available]
    if missing:
        raise InvalidArgument(
            f"profile: no column {', '.join(map(repr, missing))}; "
            f"columns are: {', '.join(available)}"
        )
    rows = cols.row_count(frame)
    profiled: dict[str, ColumnProfile] = {}
    skipped: dict[str, str] = {}
    for name in wanted:
        series = cols.column(frame, name)
        kind = cols.kind_of(series.dtype)
        if kind is None:
            reason = f"dtype {series.dtype} is neither numeric nor categorical"
            if columns is not None:
                raise InvalidArgument(f"profile: column {name!r} has {reason}")
            skipped[name] = reason
        else:
            profiled[name] = column_profile(name, series, kind, category_cap)
    return Profile(rows=rows, columns=profiled, skipped=skipped, category_cap=category_cap)


def column_profile(name: str, series: Any, kind: cols.Kind, category_cap: int) -> ColumnProfile:
    if kind == cols.NUMERIC:
        values, nulls = cols.numeric_values(series)
        return numeric_profile(name, str(series.dtype), len(series), nulls, values)
    keys, counts, nulls = cols.category_counts(series)
    return categorical_profile(
        name, str(series.dtype), len(series), nulls, keys, counts, category_cap
    )


def numeric_profile(
    name: str, dtype: str, rows: int, nulls: int, sorted_values: np.ndarray
) -> ColumnProfile:
    """Profile of a numeric column from its sorted non-null values."""
    if sorted_values.size == 0:
        return ColumnProfile(name, cols.NUMERIC, dtype, rows, nulls)
    edges = cols.quantile_edges(sorted_values)
    with np.errstate(invalid="ignore", over="ignore"):
        mean, std = float(np.mean(sorted_values)), float(np.std(sorted_values))
    return ColumnProfile(
        name,
        cols.NUMERIC,
        dtype,
        rows,
        nulls,
        min=float(sorted_values[0]),
        max=float(sorted_values[-1]),
        mean=mean,
        std=std,
        bin_edges=tuple(edges.tolist()),
        bin_counts=tuple(cols.bin_counts(sorted_values, edges).tolist()) if edges.size else (),
    )


def categorical_profile(
    name: str,
    dtype: str,
    rows: int,
    nulls: int,
    keys: list[str],
    counts: np.ndarray,
    category_cap: int,
) -> ColumnProfile:
    """Profile of a categorical column: the ``category_cap`` most frequent categories
    (ties: first seen first), the rest summed in ``other_count``."""
    order = np.argsort(-counts, kind="stable")[:category_cap]
    kept = {keys[i]: int(counts[i]) for i in order.tolist()}
    other = int(counts.sum()) - sum(kept.values())
    return ColumnProfile(
        name,
        cols.CATEGORICAL,
        dtype,
        rows,
        nulls,
        categories=kept,
        other_count=other,
        distinct=len(keys),
    )


def _num(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _unnum(value: Any) -> float | None:
    if value is None:
        return None
    return float(value)  # float("NaN"), float("Infinity") and float("-Infinity") parse
