"""The result types of ``drift``: one TestResult per (feature, test), one FeatureDrift per
feature (with the extras: null-rate change, out-of-range values, unseen categories), and the
DriftReport that holds them (``to_df()``, ``extras_df()``, ``drifted_features``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from shipyard.monitoring import _stats_columns as cols

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = (
    "feature",
    "kind",
    "test",
    "statistic",
    "p_value",
    "threshold",
    "drifted",
    "reference_rows",
    "current_rows",
    "reference_nulls",
    "current_nulls",
)


@dataclass(frozen=True)
class TestResult:
    test: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's results and extras. ``out_of_range``: current values below the
    reference min or above its max (numeric), or in categories the reference never had
    (categorical); ``unseen``: the most frequent of those categories with their counts."""

    feature: str
    kind: cols.Kind
    reference_rows: int
    current_rows: int
    reference_nulls: int
    current_nulls: int
    results: tuple[TestResult, ...]
    out_of_range: int = 0
    unseen: Mapping[str, int] = field(default_factory=dict)
    note: str | None = None

    @property
    def reference_null_rate(self) -> float:
        return self.reference_nulls / self.reference_rows if self.reference_rows else 0.0

    @property
    def current_null_rate(self) -> float:
        return self.current_nulls / self.current_rows if self.current_rows else 0.0

    @property
    def null_rate_change(self) -> float:
        """Current null rate minus reference null rate (in [-1, 1])."""
        return self.current_null_rate - self.reference_null_rate

    @property
    def out_of_range_rate(self) -> float:
        non_null = self.current_rows - self.current_nulls
        return self.out_of_range / non_null if non_null else 0.0

    @property
    def drifted(self) -> bool:
        return any(r.drifted for r in self.results)


@dataclass(frozen=True)
class DriftReport:
    """Results per feature (``features``), the features not compared and why
    (``skipped``), and ``sampled`` (always False: every row is used)."""

    features: Mapping[str, FeatureDrift]
    reference_rows: int
    current_rows: int
    skipped: Mapping[str, str] = field(default_factory=dict)
    sampled: bool = False

    @property
    def drifted_features(self) -> list[str]:
        return [name for name, f in self.features.items() if f.drifted]

    @property
    def null_rate_changes(self) -> dict[str, float]:
        return {name: f.null_rate_change for name, f in self.features.items()}

    @property
    def out_of_range(self) -> dict[str, int]:
        return {name: f.out_of_range for name, f in self.features.items()}

    @property
    def unseen_categories(self) -> dict[str, dict[str, int]]:
        return {name: dict(f.unseen) for name, f in self.features.items() if f.unseen}

    def to_df(self) -> pd.DataFrame:
        """One row per (feature, test) with the columns in ``COLUMNS``; p_value is NaN
        (null) for the distance tests."""
        import pandas as pd

        rows = [
            (
                f.feature,
                f.kind,
                r.test,
                r.statistic,
                np.nan if r.p_value is None else r.p_value,
                r.threshold,
                r.drifted,
                f.reference_rows,
                f.current_rows,
                f.reference_nulls,
                f.current_nulls,
            )
            for f in self.features.values()
            for r in f.results
        ]
        return pd.DataFrame.from_records(rows, columns=list(COLUMNS))

    def extras_df(self) -> pd.DataFrame:
        """One row per feature: null rates and their change, out-of-range values, unseen
        categories (distinct count in the listing) and the note, if any."""
        import pandas as pd

        return pd.DataFrame.from_records(
            [
                {
                    "feature": f.feature,
                    "kind": f.kind,
                    "reference_null_rate": f.reference_null_rate,
                    "current_null_rate": f.current_null_rate,
                    "null_rate_change": f.null_rate_change,
                    "out_of_range": f.out_of_range,
                    "out_of_range_rate": f.out_of_range_rate,
                    "unseen_categories": len(f.unseen),
                    "note": f.note,
                }
                for f in self.features.values()
            ]
        )
