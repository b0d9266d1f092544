"""The point-in-time join of entity rows held in memory, by binary search.

Each entity row's key is looked up among a view's prepared keys (a hash lookup), then a
binary search in that key's rows (sorted by event time, one row per time: ``prepared``)
finds the last one at or before the entity row's time. Nothing is sorted, no row is moved,
and the result is in input order, so it costs a fraction of a DuckDB ASOF join, which would
sort both sides on every call. It gives the rows that join gives (``offline``'s SQL, which
still runs for entity files); when an entity column has a type that only DuckDB should
convert, ``join`` returns None and the SQL runs instead.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from shipyard.features.offline import JoinPlan, ViewRequest, value_column
from shipyard.features.prepared import Prepared
from shipyard.features.types import Dtype

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

INT64_MAX = 2**63 - 1
MICROSECOND = timedelta(microseconds=1)
CHUNK = 32_768  # entity rows per search slice


def join(plan: JoinPlan, requests: list[ViewRequest], prepared: list[Prepared]) -> pa.Table | None:
    """The entity table with every picked feature column appended (``plan.picks``), or
    None when the entity columns need DuckDB's conversions."""

    entity = plan.entity
    table = plan.entities
    if entity is None or table is None:
        return None
    times = entity_times(table.column(entity.timestamp))
    if times is None:
        return None
    ts, valid = times
    if len(ts) and (ts.min() <= -(2**62) or ts.max() >= 2**62):
        return None  # ±infinity (or ~146,000 years away): DuckDB's arithmetic, not int64's
    matches: list[Match] = []
    for req, prep in zip(requests, prepared, strict=True):
        keys = [entity_keys(table.column(k), t) for k, t in req.view.key_dtypes().items()]
        if any(k is None for k in keys):
            return None
        number = prep.key_numbers(keys)
        number[~valid] = -1
        ttl = req.view.ttl // MICROSECOND if req.view.ttl is not None else None
        matches.append(Match(positions(prep, number, ts, ttl)))
    for pick in plan.picks:
        values = prepared[pick.view].table.column(value_column(pick.value))
        table = table.append_column(pick.name, matches[pick.view].take(values))
    return table


class Match:
    """Which prepared row each entity row got (-1: none), and the taking of columns."""

    def __init__(self, pos: np.ndarray) -> None:
        import numpy as np
        import pyarrow as pa

        missing = pos < 0
        self.nulls = int(np.count_nonzero(missing))
        self.index = pa.array(np.where(missing, 0, pos) if self.nulls else pos)
        self.masked = pa.array(pos, mask=missing) if self.nulls else self.index
        # the result's validity bitmap, shared by every column without nulls of its own
        self.validity = pa.array(~missing).buffers()[1] if self.nulls else None

    def take(self, values: pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        """``values`` at the matched rows, null where there is none."""
        import pyarrow as pa

        if values.null_count or self.validity is None or self.nulls == len(self.index):
            return values.take(self.masked)
        taken = values.take(self.index)
        taken = taken.combine_chunks() if isinstance(taken, pa.ChunkedArray) else taken
        if taken.offset or pa.types.is_nested(taken.type):
            return values.take(self.masked)
        buffers = taken.buffers()
        buffers[0] = self.validity
        return pa.Array.from_buffers(taken.type, len(taken), buffers, self.nulls)


def positions(
    prep: Prepared, number: np.ndarray, ts: np.ndarray, ttl: int | None = None
) -> np.ndarray:
    """For each entity row (its key's number, -1 for none, and time in µs): the position
    of the last prepared row of that key at or before that time, or -1; also -1 when that
    row is more than ``ttl`` µs older. In slices of ``CHUNK`` rows, whose working arrays
    stay in the CPU's cache."""
    import numpy as np

    out = np.empty(len(number), dtype=np.int64)
    for i in range(0, len(number), CHUNK):
        out[i : i + CHUNK] = _search(prep, number[i : i + CHUNK], ts[i : i + CHUNK], ttl)
    return out


def _search(prep: Prepared, number: np.ndarray, ts: np.ndarray, ttl: int | None) -> np.ndarray:
    """Binary search inside each row's key's rows, all rows at once: ``base`` is the
    first row of a range of ``size`` rows that holds the answer if there is one; each step
    probes its middle and keeps the half that holds it, until one row is left."""
    import numpy as np

    starts, times = prep.starts, prep.ts
    out = np.full(len(number), -1, dtype=np.int64)
    rows = np.flatnonzero(number >= 0)
    key = number[rows]
    base = starts[key]
    size = starts[key + 1] - base  # >= 1: every key has rows
    at = ts[rows]
    half = size >> 1
    while half.any():
        probe = base + half
        base = np.where(times[probe] <= at, probe, base)
        size -= half
        half = size >> 1
    found = times[base]
    ok = found <= at  # else even the key's first row is later
    if ttl is not None:
        ok &= found >= at - ttl
    if prep.offset is not None:  # base: the last of its tied rows; the winner is before
        base = base + prep.offset[base]
    out[rows] = np.where(ok, base, -1)
    return out


def entity_times(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray] | None:
    """The entity times in µs since the epoch, as DuckDB's cast to TIMESTAMPTZ gives them
    (nanoseconds rounded half away from zero), and which are not null."""
    import numpy as np
    import pyarrow as pa

    kind = column.type
    if not pa.types.is_timestamp(kind) or kind.tz is None:
        return None
    valid = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if kind.unit == "ns":
        raw = _int64(column.cast(pa.int64()))
        floor, rest = np.divmod(raw, 1000)
        ts = floor + np.where(raw >= 0, rest >= 500, rest > 500)
    else:
        us = column.cast(pa.timestamp("us", tz=kind.tz))  # s and ms: exact
        ts = _int64(us.cast(pa.int64()))
    return ts, valid


def entity_keys(column: pa.ChunkedArray, dtype: Dtype) -> pa.ChunkedArray | None:
    """The entity key column in a type ``Prepared.key_numbers`` compares exactly as DuckDB
    does: integers as int64 (a uint64 above the int64 range matches nothing), strings as
    they are (dictionary-encoded ones decoded). None for any other type."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type):
        column, kind = column.cast(kind.value_type), kind.value_type  # pandas' categoricals
    if dtype in (Dtype.INT32, Dtype.INT64) and pa.types.is_integer(kind):
        if kind == pa.uint64():  # null the values above int64; the rest fit
            column = pc.if_else(pc.greater(column, pa.scalar(INT64_MAX, pa.uint64())), None, column)
            return column.cast(pa.int64(), safe=False)
        return column.cast(pa.int64())
    string = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    if dtype == Dtype.STRING and (string or pa.types.is_string_view(kind)):
        return column
    return None


def _int64(column: pa.ChunkedArray) -> np.ndarray:
    import numpy as np

    filled = column.fill_null(0)
    return np.ascontiguousarray(filled.to_numpy(), dtype=np.int64)
