"""Prepared rows: what the point-in-time join needs from one feature view, made once.

A view's prepared rows are its source rows (after its transformation) with non-null join
keys and event time, keys and features cast to their declared types, sorted by (join
keys, event time), and de-duplicated: of the rows that share keys and event time only the
one the join would pick counts, the greatest (created time, null = oldest; source
position) (``Prepared``: how the others are set aside). The join then needs, for each
entity row, the last prepared row of its keys at or before its time (``asof``): no tie
left to break and nothing left to sort.

Columns: ``__k0..`` the join keys (in ``view.join_keys`` order), ``__ts`` the event time
(µs, UTC), ``__v0..`` every feature of the view (in ``view.features`` order). They depend
only on the view's definition and its source's data, so ``cache`` keeps them.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.features._sql import ident, ts_column
from shipyard.features.checks import check_view_data, columns_of
from shipyard.features.definitions import FeatureView
from shipyard.features.offline import key_column, source_relation, value_column
from shipyard.features.sources import SourceContext

if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import pyarrow as pa

BATCH_ROWS = 1 << 20  # rows per batch read from DuckDB (it hands out ~122,880 anyway)


@dataclass(eq=False)
class Prepared:
    """One view's prepared rows (``table``), and what lookups into them need.

    Just built, ``table`` may still hold the tied rows, as sorted (a filtered copy would
    cost a fresh process ~0.1 s per 50 MB here): then ``offset`` says, for the last row
    of each run of tied rows (where a search for "the last row at or before" lands), how
    many rows back the run's winner is (0 elsewhere), and the losers are left out where the
    rows are shown to DuckDB (``register``) or written (``cache.write``).

    Rows beyond the cache's memory budget are streamed into a file and memory-mapped
    (``spilled``): views larger than memory keep working, with ~11 bytes per row in memory
    (times, and one byte per row for each of three masks)."""

    table: pa.Table
    keys: list[str]  # the view's join keys, in the order of __k0..
    features: list[str]  # the view's features, in the order of __v0..
    key: str = ""  # the cache key ("" when not cached)
    offset: np.ndarray | None = field(default=None, repr=False)  # None: no tied rows
    keep: np.ndarray | None = field(default=None, repr=False)  # the winning rows
    spilled: bool = False  # ``table`` is memory-mapped from a (deleted) file
    _codes: list[Codes] = field(default_factory=list, repr=False)

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)

    @property
    def nbytes(self) -> int:
        extra = self.offset.nbytes if self.offset is not None else 0
        return int(self.table.nbytes) + int(extra)

    @cached_property
    def deduplicated(self) -> pa.Table:
        """One row per (keys, time): the winners, as a copy in memory (one chunk per
        column when it filters)."""
        import numpy as np
        import pyarrow as pa

        if self.keep is None:
            return self.table
        return self.table.take(pa.array(np.flatnonzero(self.keep)))

    def winning_batches(self) -> Iterator[pa.RecordBatch]:
        """The winners, batch by batch, without a copy of the whole table."""
        import pyarrow as pa

        at = 0
        for batch in self.table.to_batches():
            n = batch.num_rows
            keep = self.keep[at : at + n] if self.keep is not None else None
            at += n
            yield batch if keep is None else batch.filter(pa.array(keep))

    def register(self, con: duckdb.DuckDBPyConnection, name: str) -> None:
        """Show the winners to DuckDB as ``name`` (the rows as they are, and a view that
        leaves the losers out: no copy)."""
        import pyarrow as pa

        if self.keep is None:
            con.register(name, self.table)
            return
        con.register(f"{name}__all", self.table.append_column("__keep", pa.array(self.keep)))
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {ident(name)} AS "
            f"SELECT * EXCLUDE (__keep) FROM {ident(name + '__all')} WHERE __keep"
        )

    @cached_property
    def ts(self) -> np.ndarray:
        """Event times in µs, one contiguous int64 array."""
        import numpy as np
        import pyarrow as pa

        column = self.table.column("__ts").cast(pa.int64())
        return np.ascontiguousarray(column.to_numpy(), dtype=np.int64)

    @cached_property
    def starts(self) -> np.ndarray:
        """Where each distinct key's rows start, plus the row count at the end: the rows
        of key number ``i`` are ``starts[i]:starts[i + 1]``."""
        import numpy as np

        n = self.rows
        new = np.ones(n, dtype=bool)
        if n > 1:
            new[1:] = False
            for i in range(len(self.keys)):
                new[1:] |= _differs_from_previous(self.table.column(key_column(i)))
        return np.append(np.flatnonzero(new), n).astype(np.int64)

    def key_numbers(self, entity_keys: list[pa.Array | pa.ChunkedArray]) -> np.ndarray:
        """The number of each entity row's key among the prepared keys, -1 when absent.
        ``entity_keys``: one array per join key: int64 for integer keys, a string type
        for string keys (``asof.entity_keys``)."""
        import numpy as np
        import pyarrow as pa

        if not self._codes:
            self._codes = _codes(self.table, len(self.keys), self.starts[:-1])
        code = np.zeros(0, dtype=np.int64)
        for i, (column, codes) in enumerate(zip(entity_keys, self._codes, strict=True)):
            part = codes.of(column)
            if i == 0:
                code = part
                continue
            absent = (code < 0) | (part < 0)
            pair = pa.array(code * codes.size + part, mask=absent)
            assert codes.pairs is not None
            code = codes.pairs.of(pair)
        return code


@dataclass
class Codes:
    """Dense codes for one key column's values among the prepared keys (``values``, in
    first-seen order); from the second column on, ``pairs`` codes the pair (code of the
    columns before, code of this one). The last column's pair code is the key number."""

    values: pa.Array
    pairs: Codes | None = None
    _direct: tuple[int, np.ndarray] | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return len(self.values)

    def of(self, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Each value's code, -1 for a value (or null) not among ``values``."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        direct = self._direct_table()
        if direct is not None and pa.types.is_int64(column.type):
            low, codes = direct  # codes[0] and codes[-1]: -1, for values out of range
            values = np.asarray(column.fill_null(low - 1).to_numpy(), dtype=np.int64)
            return codes[np.clip(values, low - 1, low + len(codes) - 2) - (low - 1)]
        values = self.values
        if not values.type.equals(column.type):
            values = values.cast(column.type)  # string flavours only (large, view)
        found = pc.index_in(column, value_set=values)
        if isinstance(found, pa.ChunkedArray):
            found = found.combine_chunks()
        return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)

    def _direct_table(self) -> tuple[int, np.ndarray] | None:
        """For integers in a narrow range (ids 1..n): a lookup array instead of a hash."""
        import numpy as np
        import pyarrow as pa

        if self._direct is not None or not pa.types.is_integer(self.values.type):
            return self._direct
        values = np.asarray(self.values.to_numpy(), dtype=np.int64)
        if not len(values):
            return None
        low, high = int(values.min()), int(values.max())
        span = high - low + 1
        if low <= -(2**62) or high >= 2**62 or span > max(4 * len(values), 4096):
            return None
        codes = np.full(span + 2, -1, dtype=np.int64)
        codes[values - low + 1] = np.arange(len(values), dtype=np.int64)
        self._direct = (low, codes)
        return self._direct


def _codes(table: pa.Table, nkeys: int, firsts: np.ndarray) -> list[Codes]:
    """The ``Codes`` of each key column, built from the distinct keys (in key order)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    distinct = [
        table.column(key_column(i)).take(pa.array(firsts)).combine_chunks() for i in range(nkeys)
    ]
    if nkeys == 1:  # the distinct keys are the values: a value's code is its key number
        return [Codes(distinct[0])]
    out: list[Codes] = []
    code = np.zeros(0, dtype=np.int64)
    for i, column in enumerate(distinct):
        codes = Codes(pc.unique(column))
        part = codes.of(column)
        if i == 0:
            code = part
        else:
            pair = pa.array(code * codes.size + part)
            codes.pairs = Codes(pc.unique(pair))
            code = codes.pairs.of(pair)  # last column: 0..n-1, every key's pair is unique
        out.append(codes)
    return out


def _differs_from_previous(column: pa.ChunkedArray) -> np.ndarray:
    """For rows 1..n-1: is the value different from the one before (no nulls here)?"""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_integer(column.type):
        values = column.to_numpy()
        return np.asarray(values[1:] != values[:-1])
    n = len(column)
    differs = pc.not_equal(column.slice(1), column.slice(0, n - 1))
    return np.asarray(differs.to_numpy(), dtype=bool)


def prepare_sql(view: FeatureView, relation: str) -> str:
    """The view's rows in the prepared columns, sorted by (keys, event time), with what
    breaks ties among rows of equal keys and time: ``__c`` the created time (null =
    oldest) and ``__s`` the source position (``__seq``). Sorting by the two as well would
    double the sort's key; ``build`` settles the few ties after."""
    source = view.source
    ts = ts_column(source.timestamp_field)
    keys = view.key_dtypes()
    cols = [
        f"CAST({ident(k)} AS {t.duckdb}) AS {key_column(i)}"
        for i, (k, t) in enumerate(keys.items())
    ]
    cols.append(f"{ts} AS __ts")
    for j, f in enumerate(view.features):
        cols.append(f"CAST({ident(f.name)} AS {f.type.duckdb}) AS {value_column(j)}")
    created = source.created_timestamp_column
    oldest = "'-infinity'::TIMESTAMPTZ"
    cols.append(
        f"coalesce({ts_column(created)}, {oldest}) AS __c" if created else f"{oldest} AS __c"
    )
    cols.append("__seq AS __s")
    where = [f"{ts} IS NOT NULL", *(f"{ident(k)} IS NOT NULL" for k in keys)]
    order = [*(key_column(i) for i in range(len(keys))), "__ts"]
    return (
        f"SELECT {', '.join(cols)} FROM {ident(relation)} WHERE {' AND '.join(where)} "
        f"ORDER BY {', '.join(order)}"
    )


def build(
    con: duckdb.DuckDBPyConnection,
    view: FeatureView,
    sources: SourceContext,
    key: str = "",
    spill: tuple[Path, int] | None = None,
) -> Prepared:
    """Read, check, sort and de-duplicate the view's rows (on a scratch connection).
    ``spill``: (folder, bytes): rows beyond that many bytes go to a file in that folder."""
    import numpy as np

    relation = source_relation(con, view, 0, sources)
    check_view_data(view, columns_of(con, relation))
    reader = con.sql(prepare_sql(view, relation)).to_arrow_reader(BATCH_ROWS)
    table, spilled = collect(reader, *(spill or (None, 0)))
    ts = _int64(table.column("__ts"))
    new_key = np.zeros(table.num_rows, dtype=bool)  # the row's keys differ from the last's
    new_key[:1] = True
    for i in range(len(view.join_keys)):
        new_key[1:] |= _differs_from_previous(table.column(key_column(i)))
    first = new_key.copy()  # the row starts a run of equal (keys, time)
    first[1:] |= ts[1:] != ts[:-1]
    ties = winners(table, first)
    table = table.drop_columns(["__c", "__s"])
    offset = keep = None
    if ties is not None:  # the last row of a run of tied rows leads back to the winner
        keep, ends, best = ties
        back = ends - best
        kind = next(
            t for t in (np.int8, np.int16, np.int32, np.int64) if back.max() <= np.iinfo(t).max
        )
        offset = np.zeros(len(keep), dtype=kind)
        offset[ends] = -back
    prepared = Prepared(table, list(view.join_keys), view.feature_names, key, offset, keep, spilled)
    prepared.__dict__["ts"] = ts  # what the cached properties would compute again
    prepared.__dict__["starts"] = np.append(np.flatnonzero(new_key), len(ts)).astype(np.int64)
    return prepared


def collect(
    reader: pa.RecordBatchReader, folder: Path | None, budget: int
) -> tuple[pa.Table, bool]:
    """The reader's batches as a table: in memory up to ``budget`` bytes, past it all of
    them written to a file in ``folder`` and memory-mapped (the file is deleted at once;
    the mapping keeps its pages until the table is gone). Returns (table, spilled)."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    batches, size = [], 0
    for batch in reader:
        batches.append(batch)
        size += batch.nbytes
        if folder is not None and size > budget:
            break
    else:
        return pa.Table.from_batches(batches, schema=reader.schema), False
    assert folder is not None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".spill-{os.getpid()}-{uuid.uuid4().hex[:12]}.arrow"
    try:
        with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, reader.schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
            batches.clear()
            for batch in reader:
                writer.write_batch(batch)
        return ipc.open_file(pa.memory_map(str(path))).read_all(), True
    finally:
        with contextlib.suppress(OSError):  # a mapped file cannot be deleted on Windows
            path.unlink(missing_ok=True)


def winners(table: pa.Table, first: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The row that wins each run of equal (keys, event time) (``first`` marks where runs
    start): the greatest (``__c``, ``__s``). Returns the keep-mask of the winners, and for
    the runs of two or more rows their last rows and their winners; None when every run is
    one row."""
    import numpy as np
    import pyarrow as pa

    n = len(first)
    if first.all():
        return None
    last = np.ones(n, dtype=bool)
    last[:-1] = first[1:]
    keep = first & last  # rows alone in their run
    tied = np.flatnonzero(~keep)  # rows of runs of two or more, each run's first included
    run = np.cumsum(first[tied])
    index = pa.array(tied)
    created = _int64(table.column("__c").take(index))  # µs; -infinity is the smallest
    seq = np.asarray(table.column("__s").take(index).to_numpy())
    order = np.lexsort((seq, created, run))  # by run, then (created, position)
    ends = np.ones(len(order), dtype=bool)  # the last of each run, in that order and as is
    ends[:-1] = run[1:] != run[:-1]  # (run numbers ascend either way)
    best = tied[order][ends]
    keep[best] = True
    return keep, tied[ends], best


def _int64(column: pa.ChunkedArray) -> np.ndarray:
    import numpy as np
    import pyarrow as pa

    return np.asarray(column.cast(pa.int64()).to_numpy(), dtype=np.int64)
