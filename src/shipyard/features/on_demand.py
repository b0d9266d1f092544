"""Running on-demand views: on a training set's joined rows (``run_batch``: Arrow columns
in and out) and on a lookup's rows (``OnlineTransform``: plain Python values, and no
pandas unless the view's function is a pandas one).

Both give the function the same names: each source feature under its feature name, each
request field under its own. A row or columnar (``mode="python"``) function sees ``None``
for a missing value in both paths; a pandas function sees what pandas makes of it. Outputs
are checked against the view's schema and NaN becomes ``None`` (null), so a Python-mode
view gives a training set and a lookup the same values.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidFeature
from shipyard.features.definitions import Field, OnDemandFeatureView
from shipyard.features.types import Dtype

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

Coerce = Callable[[Any], Any]


# -- training sets: a batch of joined rows --------------------------------------------


def run_batch(
    view: OnDemandFeatureView, table: pa.Table, inputs: dict[str, str]
) -> dict[str, pa.Array]:
    """The view's features for every row of ``table``, each an Arrow array of its declared
    type. ``inputs``: column of ``table`` -> the name the function sees (absent columns
    are skipped)."""
    present = {col: name for col, name in inputs.items() if col in table.column_names}
    check_request_values(view, present.values())
    n = table.num_rows
    outputs: Mapping[str, Any]
    if view.mode == "pandas":
        frame = table.select(list(present)).to_pandas().rename(columns=present)
        outputs = _pandas_outputs(view, frame, n)
    else:
        args = {name: table.column(col).to_pylist() for col, name in present.items()}
        if view.row_mode:
            names = list(args)
            rows = zip(*args.values(), strict=True) if names else [()] * n
            results = [call_row(view, dict(zip(names, row, strict=True))) for row in rows]
            outputs = {f.name: [r[f.name] for r in results] for f in view.schema}
        else:
            outputs = call_columns(view, args, n)
    return {f.name: _arrow_column(view, f, outputs[f.name]) for f in view.schema}


def check_request_values(view: OnDemandFeatureView, given: Any) -> None:
    needed = {f.name for rs in view.request_sources() for f in rs.schema}
    missing = sorted(needed - set(given))
    if missing:
        raise InvalidFeature(
            f"on-demand feature view {view.name!r} needs request values {missing}: add them "
            "as columns of the entity dataframe (or fields of the request)"
        )


def _pandas_outputs(view: OnDemandFeatureView, frame: pd.DataFrame, n: int) -> pd.DataFrame:
    import pandas as pd

    result = _call(view, frame)
    if not isinstance(result, pd.DataFrame):
        raise InvalidFeature(
            f"on-demand feature view {view.name!r} (mode='pandas') must return a pandas "
            f"DataFrame, not {type(result).__name__}"
        )
    absent = [f.name for f in view.schema if f.name not in result.columns]
    if absent or len(result) != n:
        raise InvalidFeature(
            f"on-demand feature view {view.name!r} must return one row per input row with "
            f"columns {view.feature_names}; missing: {absent}"
        )
    return result.reset_index(drop=True)


def _arrow_column(view: OnDemandFeatureView, f: Field, values: Any) -> pa.Array:
    import pyarrow as pa

    try:
        return pa.array(values, from_pandas=True).cast(arrow_type(f.type))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise InvalidFeature(
            f"on-demand feature view {view.name!r}: feature {f.name!r} is {f.type.value}, "
            f"but the function returned values that are not ({exc})"
        ) from exc


def arrow_type(dtype: Dtype) -> pa.DataType:
    import pyarrow as pa

    return {
        Dtype.INT32: pa.int32(),
        Dtype.INT64: pa.int64(),
        Dtype.FLOAT32: pa.float32(),
        Dtype.FLOAT64: pa.float64(),
        Dtype.STRING: pa.string(),
        Dtype.BOOL: pa.bool_(),
        Dtype.TIMESTAMP: pa.timestamp("us", tz="UTC"),
        Dtype.BYTES: pa.binary(),
    }[dtype]


# -- calling the function -------------------------------------------------------------


def _call(view: OnDemandFeatureView, arg: Any) -> Any:
    try:
        return view.udf(arg)
    except Exception as exc:
        raise InvalidFeature(f"on-demand feature view {view.name!r} raised {exc!r}") from exc


def call_row(view: OnDemandFeatureView, row: dict[str, Any]) -> Mapping[str, Any]:
    """The row mode: one row's dict in, ``{feature: value}`` out."""
    result = _call(view, row)
    if not isinstance(result, Mapping) or any(f not in result for f in view.feature_names):
        raise InvalidFeature(
            f"on-demand feature view {view.name!r} (mode='python', singleton=True) must "
            f"return a dict with the keys {view.feature_names}, got {_short(result)}"
        )
    return result


def call_columns(
    view: OnDemandFeatureView, columns: dict[str, list[Any]], n: int
) -> Mapping[str, Sequence[Any]]:
    """Feast's columnar python mode: a dict of lists in, a dict of lists out."""
    result = _call(view, columns)
    ok = isinstance(result, Mapping) and all(
        f in result and _length(result[f]) == n for f in view.feature_names
    )
    if not ok:
        raise InvalidFeature(
            f"on-demand feature view {view.name!r} (mode='python') must return a dict of "
            f"lists with the keys {view.feature_names}, each with one value per row ({n}); "
            f"got {_short(result)}"
        )
    return result  # type: ignore[no-any-return]


def _length(values: Any) -> int | None:
    try:
        return len(values)
    except TypeError:
        return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- lookups: a few rows, plain Python ------------------------------------------------


@dataclass(frozen=True)
class OnlineTransform:
    """One on-demand view of a lookup plan, resolved once: which looked-up columns feed
    which function inputs, and where its outputs go."""

    view: OnDemandFeatureView
    inputs: tuple[tuple[str, str], ...]  # (column of the looked-up values, input name)
    request: tuple[str, ...]  # request fields, read from the entity rows
    outputs: tuple[tuple[str, str, Coerce], ...]  # (feature, output column, coerce)

    @classmethod
    def plan(
        cls,
        view: OnDemandFeatureView,
        features: Sequence[str],
        inputs: Sequence[tuple[str, str]],
        output_name: Callable[[str], str],
    ) -> OnlineTransform:
        dtypes = {f.name: f.type for f in view.schema}
        request = tuple(f.name for rs in view.request_sources() for f in rs.schema)
        outputs = tuple((f, output_name(f), coercer(dtypes[f])) for f in features)
        return cls(view, tuple(inputs), request, outputs)

    def run(
        self, values: Mapping[str, list[Any]], rows: Sequence[Mapping[str, Any]]
    ) -> dict[str, list[Any]]:
        """The requested outputs, one list per output column, one value per row."""
        n = len(rows)
        columns = {name: values[col] for col, name in self.inputs}
        for name in self.request:
            if not any(name in row for row in rows):
                check_request_values(self.view, columns)  # raises: names what is missing
            columns[name] = [row.get(name) for row in rows]
        view = self.view
        if view.row_mode:
            names = list(columns)
            results = [
                call_row(view, dict(zip(names, row, strict=True)))
                for row in (zip(*columns.values(), strict=True) if names else [()] * n)
            ]
            return {
                out: [_coerced(view, f, coerce, r[f]) for r in results]
                for f, out, coerce in self.outputs
            }
        if view.mode == "python":
            result: Mapping[str, Any] = call_columns(view, columns, n)
        else:
            import pandas as pd

            result = _pandas_outputs(view, pd.DataFrame(columns, index=range(n)), n)
        return {
            out: [_coerced(view, f, coerce, v) for v in _as_list(result[f])]
            for f, out, coerce in self.outputs
        }


def _as_list(values: Any) -> list[Any]:
    tolist = getattr(values, "tolist", None)  # a pandas Series or a numpy array
    return tolist() if callable(tolist) else list(values)


def _coerced(view: OnDemandFeatureView, feature: str, coerce: Coerce, value: Any) -> Any:
    try:
        return coerce(value)
    except (TypeError, ValueError, OverflowError):
        dtype = next(f.type for f in view.schema if f.name == feature)
        raise InvalidFeature(
            f"on-demand feature view {view.name!r}: feature {feature!r} is {dtype.value}, "
            f"but the function returned {_short(value)}"
        ) from None


def coercer(dtype: Dtype) -> Coerce:
    """What a training set's Arrow cast does to a returned value, in plain Python: numbers
    to the declared kind (an integral float to an int), NaN to None, numpy scalars to
    Python values."""
    if dtype in (Dtype.FLOAT32, Dtype.FLOAT64):
        return _to_float
    if dtype in (Dtype.INT32, Dtype.INT64):
        return _to_int
    if dtype is Dtype.BOOL:
        return _to_bool
    return _to_plain


def _to_float(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return None if math.isnan(f) else f


def _to_int(value: Any) -> int | None:
    if value is None or type(value) is int:
        return value
    try:
        return operator.index(value)  # numpy integers, bools
    except TypeError:
        f = float(value)  # floats; TypeError or ValueError for anything else
    if math.isnan(f):
        return None
    if not f.is_integer():
        raise ValueError(value)
    return int(f)


def _to_bool(value: Any) -> bool | None:
    if value is None or type(value) is bool:
        return value
    if isinstance(value, float) and math.isnan(value):
        return None
    return bool(operator.index(value))  # numpy bools and 0/1


def _to_plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    item = getattr(value, "item", None)  # a numpy scalar
    if callable(item) and type(value).__module__ == "numpy":
        return _to_plain(item())
    return value
