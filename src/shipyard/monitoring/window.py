"""``read_window``: a model's prediction log as a DataFrame, read column by column.

Hours the log has sealed into Parquet segments (``shipyard.store.log_segments``) are read by
DuckDB, only the columns asked for; the rest of the window (the current hour, or an hour
whose segment misses calls that arrived late) is read from SQL and turned into the same
columns. Labels always come from SQL, so one logged after its segment was written shows.
Every prediction of the window is returned: nothing is sampled.

One row per predicted row, ordered by time then prediction id, with the columns:

- the model's inputs and the features the server fetched, under their own names (an input
  wins over a fetched feature of the same name, as it did for the model; a name that is
  also one of the columns below gets an ``input.`` or ``feature.`` prefix);
- ``prediction``: the output as logged. A scalar for single-output models; for a model
  answering several values per row (``predict_proba``, multi-output regressors) an array
  per row (``performance`` reads a probability vector as the class scores); an object per
  row for dict outputs;
- ``label`` (null until ``log_labels`` sets it), ``prediction_id``, ``ts`` (UTC),
  ``version``, ``variant``, ``shadow``, ``latency_ms``;
- ``error``: null for a prediction; for a failed call ("422: column 'age' is missing") the
  call is one row with its latency and every input, feature, ``prediction`` and ``label``
  null. Volume, latency and error rate count these rows; drift and performance skip them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from shipyard.errors import InvalidArgument
from shipyard.store.log_segments import (
    OUTPUT,
    SEGMENT_MS,
    bucket_of,
    calls_table,
    valid_buckets,
)

log = logging.getLogger("shipyard.monitoring")

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.tracking import Client

LOG_COLUMNS = (
    "prediction", "label", "prediction_id", "ts", "version", "variant", "shadow", "error",
)  # fmt: skip
STANDARD = (*LOG_COLUMNS, "latency_ms")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

Moment = datetime | timedelta | str | None


def to_ms(value: Moment, now: datetime, what: str) -> int | None:
    """Epoch ms of an aware datetime, an ISO-8601 time with its offset, or a duration before
    ``now`` (a timedelta or ``"90m"``, ``"24h"``, ``"7d"``)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        match = _DURATION.match(text)
        if match:
            value = timedelta(seconds=float(match[1]) * _UNIT_S[match[2]])
        else:
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                raise InvalidArgument(
                    f"{what} {text!r} is neither a duration (30m, 24h, 7d) nor an ISO-8601 "
                    "time with its UTC offset (2026-12-01T00:00:00+00:00)"
                ) from None
    if isinstance(value, timedelta):
        value = now - value
    if not isinstance(value, datetime):
        raise InvalidArgument(f"{what} must be a datetime, a timedelta or a string")
    if value.tzinfo is None:
        raise InvalidArgument(
            f"{what} {value.isoformat()} has no time zone; give an aware datetime "
            "(datetime(..., tzinfo=UTC)) or an ISO time with its offset"
        )
    return int(value.timestamp() * 1000)


def read_window(
    model: str,
    version: int | None = None,
    since: Moment = None,
    until: Moment = None,
    *,
    columns: Sequence[str] | None = None,
    client: Client | None = None,
) -> pd.DataFrame:
    """The predictions of ``model`` (one ``version``, or all) with ``since <= ts < until``
    (either end open when None). ``columns`` picks and orders the columns (any of the
    input, feature and standard names); an empty window, or a model with no log, gives an
    empty frame."""
    return _read(model, version, since, until, columns, client, absent="raise")


def read_window_part(
    model: str,
    version: int | None,
    since: Moment,
    until: Moment,
    columns: Sequence[str],
    client: Client,
) -> pd.DataFrame:
    """``read_window`` of part of a window whose ``columns`` come from the whole of it: a
    column this part never logged is all null, as it is in the whole window's frame."""
    return _read(model, version, since, until, columns, client, absent="null")


def window_columns(
    model: str,
    version: int | None = None,
    since: Moment = None,
    until: Moment = None,
    *,
    client: Client | None = None,
) -> list[str]:
    """The columns ``read_window`` would give for this window, without reading its rows
    (segment schemas, and the unsealed calls of the window from SQL)."""
    import duckdb

    files, tail, _, _ = _sources(model, version, since, until, client or _client())
    con = duckdb.connect()
    try:
        return list(_names(_stored(_parts(con, files, tail))))
    finally:
        con.close()


def _client() -> Client:
    from shipyard.tracking import Client

    return Client()


def _read(
    model: str,
    version: int | None,
    since: Moment,
    until: Moment,
    columns: Sequence[str] | None,
    client: Client | None,
    absent: str,
) -> pd.DataFrame:
    client = client or _client()
    files, tail, start, end = _sources(model, version, since, until, client)
    store = client.store.predictions
    labels = store.labels_between(model, start, end, version) if _wants_label(columns) else []
    return _assemble(files, tail, labels, start, end, version, columns, absent)


def _sources(
    model: str, version: int | None, since: Moment, until: Moment, client: Client
) -> tuple[list[str], Any, int | None, int | None]:
    """The window's sealed segment files, its calls still only in SQL (an Arrow table), and
    its bounds in epoch ms."""
    now = datetime.now(UTC)
    start, end = to_ms(since, now, "since"), to_ms(until, now, "until")
    if start is not None and end is not None and end <= start:
        raise InvalidArgument(f"the window is empty: until ({until}) is not after since ({since})")
    store = client.store.predictions
    lo = None if start is None else bucket_of(start)
    hi = None if end is None else bucket_of(end - 1) + SEGMENT_MS
    counts = store.bucket_counts(model, lo, hi, SEGMENT_MS)
    segments = store.list_segments(model, lo, hi)
    valid = valid_buckets(counts, segments)
    wanted = [s for s in segments if s.first_ts_ms in valid and version in (None, s.version)]
    paths = {s.blob_hash: _local_path(client, s.blob_hash) for s in wanted}
    valid -= {s.first_ts_ms for s in wanted if paths[s.blob_hash] is None}  # read from SQL
    files = [str(paths[s.blob_hash]) for s in wanted if s.first_ts_ms in valid]
    tail = calls_table(store.raw_calls(model, _ranges(counts, valid, start, end), version))
    return files, tail, start, end


def _ranges(
    counts: dict[int, int], valid: set[int], start: int | None, end: int | None
) -> list[tuple[int, int]]:
    """The time ranges to read from SQL: buckets with calls but no valid segment, merged
    when adjacent and clipped to the window."""
    ranges: list[tuple[int, int]] = []
    for bucket in sorted(b for b in counts if b not in valid):
        lo, hi = bucket, bucket + SEGMENT_MS
        if ranges and ranges[-1][1] == lo:
            ranges[-1] = (ranges[-1][0], hi)
        else:
            ranges.append((lo, hi))
    clip_lo = -(2**62) if start is None else start
    clip_hi = 2**62 if end is None else end
    return [(max(lo, clip_lo), min(hi, clip_hi)) for lo, hi in ranges if lo < clip_hi]


def _local_path(client: Client, blob_hash: str) -> str | None:
    """A local file of the segment whose content matches its hash, or None (missing or
    damaged: the caller reads those hours from the SQL log, which holds every call)."""
    blobs = client.blobs
    if blobs.local:
        path = blobs.path(blob_hash)
    else:  # a remote store: a verified local copy first
        import tempfile
        from pathlib import Path

        target = Path(tempfile.gettempdir()) / "shipyard-segments" / f"{blob_hash}.parquet"
        if not target.exists():
            blobs.get_to_path(blob_hash, target)
        path = str(target)
    return path if _intact(path, blob_hash) else None


_INTACT: dict[str, tuple[int, int]] = {}  # path -> (size, mtime_ns) when its hash matched


def _intact(path: str, blob_hash: str) -> bool:
    """Whether the file at ``path`` hashes to ``blob_hash``; checked once per file version
    in this process (a day of segments is a few MB: milliseconds)."""
    import hashlib
    import os

    try:
        stat = os.stat(path)
        key = (stat.st_size, stat.st_mtime_ns)
        if _INTACT.get(path) == key:
            return True
        with open(path, "rb") as handle:
            ok = hashlib.file_digest(handle, "sha256").hexdigest() == blob_hash
    except FileNotFoundError:
        ok = False
    if ok:
        _INTACT[path] = key
    else:
        log.warning(
            "prediction log segment %s is missing or damaged; reading its hour from the SQL "
            "log instead (delete the blob `shipyard doctor` names, then `shipyard predictions "
            "seal` writes it again)",
            blob_hash,
        )
    return ok


def _wants_label(columns: Sequence[str] | None) -> bool:
    return columns is None or "label" in columns


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _parts(con: Any, files: list[str], tail: Any) -> list[tuple[str, list[str]]]:
    """The sources to read (the SQL tail, then the segment files) and their columns."""
    con.register("tail", tail)
    parts: list[tuple[str, list[str]]] = [("tail", list(tail.column_names))]
    if files:
        source = "read_parquet($files, union_by_name = true)"
        described = con.execute(f"DESCRIBE SELECT * FROM {source}", {"files": files})
        parts.append((source, [r[0] for r in described.fetchall()]))
    return parts


def _stored(parts: list[tuple[str, list[str]]]) -> list[str]:
    return list(dict.fromkeys(n for _, names in parts for n in names))


def _assemble(
    files: list[str],
    tail: Any,
    labels: list[tuple[str, str]],
    start: int | None,
    end: int | None,
    version: int | None,
    columns: Sequence[str] | None,
    absent: str,
) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect()
    try:
        parts = _parts(con, files, tail)
        stored = _stored(parts)
        names = _names(stored)
        wanted = list(names) if columns is None else _check(columns, names, absent)
        needed = {"ts_ms", "prediction_id"} | {src for c in wanted for src in names.get(c, [])}
        where, params = _where(start, end, version)
        selects = []
        for source, have in parts:
            cols = ", ".join(_ident(c) for c in stored if c in needed and c in have)
            selects.append(f"SELECT {cols} FROM {source} WHERE {where}")
        query = " UNION ALL BY NAME ".join(selects) + " ORDER BY ts_ms, prediction_id"
        if files:
            params["files"] = files
        raw = con.execute(query, params).df()
    finally:
        con.close()
    return _frame(raw, names, wanted, labels)


def _where(start: int | None, end: int | None, version: int | None) -> tuple[str, dict[str, Any]]:
    clauses, params = ["TRUE"], {}
    if start is not None:
        clauses.append("ts_ms >= $start")
        params["start"] = start
    if end is not None:
        clauses.append("ts_ms < $end")
        params["end"] = end
    if version is not None:
        clauses.append("version = $version")
        params["version"] = version
    return " AND ".join(clauses), params


def _names(stored: list[str]) -> dict[str, list[str]]:
    """Frame column -> the stored columns it is read from (typed first, then JSON)."""
    names: dict[str, list[str]] = {}
    for prefix, jprefix, label in (("i.", "ij.", "input."), ("f.", "fj.", "feature.")):
        for col in stored:
            if col.startswith((prefix, jprefix)):
                name = col.split(".", 1)[1]
                key = f"{label}{name}" if name in STANDARD else name
                if label == "feature." and key in names and names[key][0][:2] in ("i.", "ij"):
                    continue  # the input the model saw wins
                names.setdefault(key, []).append(col)
    names["prediction"] = [c for c in (f"o.{OUTPUT}", f"oj.{OUTPUT}") if c in stored]
    names["label"] = []
    for col in ("prediction_id", "ts", "version", "variant", "shadow", "latency_ms"):
        names[col] = ["ts_ms" if col == "ts" else col]
    names["error"] = ["error"] if "error" in stored else []  # segments written before it
    return names


def _check(columns: Sequence[str], names: dict[str, list[str]], absent: str) -> list[str]:
    """The columns asked for; an unknown one raises, or (``absent="null"``) reads as null."""
    wanted = list(columns)
    unknown = [c for c in wanted if c not in names]
    if unknown and absent == "null":
        names.update({c: [] for c in unknown})
    elif unknown:
        known = ", ".join(sorted(names))
        raise InvalidArgument(f"the prediction log has no column {unknown[0]!r}; columns: {known}")
    return wanted


def _frame(
    raw: pd.DataFrame, names: dict[str, list[str]], wanted: list[str], labels: list[Any]
) -> pd.DataFrame:
    import pandas as pd

    out: dict[str, Any] = {}
    for name in wanted:
        if name == "label":
            out[name] = _labels(raw["prediction_id"], labels)
        elif name == "ts":
            out[name] = pd.to_datetime(raw["ts_ms"].astype("int64"), unit="ms", utc=True)
        else:
            out[name] = _merged(raw, names[name])
    return pd.DataFrame(out, index=pd.RangeIndex(len(raw)))


def _merged(raw: pd.DataFrame, sources: list[str]) -> Any:
    import pandas as pd

    series = [_decoded(raw[c]) if c.split(".")[0].endswith("j") else raw[c] for c in sources]
    if not series:
        return pd.Series([None] * len(raw), dtype=object)
    merged = series[0]
    for other in series[1:]:  # a column typed in some segments and JSON in others
        merged = merged.astype(object).where(merged.notna(), other)
    return merged.reset_index(drop=True)


def _decoded(texts: Any) -> Any:
    import pandas as pd

    return pd.Series(
        [None if t is None or t != t else orjson.loads(t) for t in texts], dtype=object
    )


def _labels(ids: Any, labels: list[tuple[str, str]]) -> Any:
    import pandas as pd

    if not labels:
        return pd.Series([None] * len(ids), dtype=object)
    values = orjson.loads("[" + ",".join(label for _, label in labels) + "]")
    found = pd.Series(values, index=[p for p, _ in labels])
    if found.dtype == object:
        found = found.infer_objects()
    return found.reindex(ids.to_numpy()).reset_index(drop=True)
