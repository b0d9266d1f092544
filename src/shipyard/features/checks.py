"""Checks that a definition and its data agree, with errors that name the view, the column
and the fix. They run before anything is written, so a bad definition leaves no trace."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.errors import InvalidFeature
from shipyard.features._sql import ident
from shipyard.features.types import Dtype, is_aware_timestamp, is_naive_timestamp

if TYPE_CHECKING:
    import duckdb

    from shipyard.features.definitions import FeatureView


def columns_of(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """Column name -> DuckDB type of a view or table."""
    rows = con.execute(f"DESCRIBE {ident(relation)}").fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def check_timestamp(owner: str, column: str, columns: dict[str, str], fix_naive: str) -> None:
    if column not in columns:
        raise InvalidFeature(
            f"{owner} has no timestamp column {column!r}; columns are: {_listing(columns)}"
        )
    kind = columns[column]
    if is_naive_timestamp(kind):
        raise InvalidFeature(
            f"{owner}: column {column!r} holds naive timestamps ({kind}); Shipyard needs "
            f"timezone-aware UTC times: {fix_naive}"
        )
    if not is_aware_timestamp(kind):
        raise InvalidFeature(
            f"{owner}: column {column!r} is {kind}, not a timestamp; convert it to a "
            "timezone-aware datetime"
        )


NAIVE_FIX_DATA = (
    "store them with a time zone (pandas: df[col] = df[col].dt.tz_localize('UTC')) or use "
    "a SqlSource that converts them (ts AT TIME ZONE 'UTC')"
)


def check_view_data(view: FeatureView, columns: dict[str, str]) -> None:
    """The source (after any transformation) has every column the view declares, with a
    compatible type."""
    owner = f"feature view {view.name!r}"
    source = view.source
    check_timestamp(owner, source.timestamp_field, columns, NAIVE_FIX_DATA)
    if source.created_timestamp_column:
        check_timestamp(owner, source.created_timestamp_column, columns, NAIVE_FIX_DATA)
    for key, dtype in view.key_dtypes().items():
        _check_column(owner, key, dtype, columns, "join key")
    for f in view.features:
        _check_column(owner, f.name, f.type, columns, "feature")


def check_entity_keys(
    view: FeatureView, columns: dict[str, str], what: str = "the entity dataframe"
) -> None:
    for key, dtype in view.key_dtypes().items():
        if key not in columns:
            raise InvalidFeature(
                f"{what} has no column {key!r}, the join key of feature view {view.name!r}; "
                f"add it (columns are: {_listing(columns)})"
            )
        if not dtype.accepts(columns[key]):
            raise InvalidFeature(
                f"{what}: column {key!r} is {columns[key]} but feature view {view.name!r} "
                f"joins on it as {dtype.value}; convert the column"
            )


def _check_column(owner: str, name: str, dtype: Dtype, columns: dict[str, str], role: str) -> None:
    if name not in columns:
        raise InvalidFeature(
            f"{owner}: {role} {name!r} is not a column of its source; columns are: "
            f"{_listing(columns)}. Fix the schema or the source"
        )
    found = columns[name]
    if not dtype.accepts(found):
        raise InvalidFeature(
            f"{owner}: {role} {name!r} is declared {dtype.value} but the data has {found}; "
            f"change Field({name!r}, dtype=...) or convert the column"
        )


def _listing(columns: dict[str, str]) -> str:
    shown = [c for c in columns if not c.startswith("__")]
    return ", ".join(shown) if shown else "(none)"
