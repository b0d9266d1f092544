"""Where feature rows come from: files, SQL queries, DataFrames, and pushed rows.

Every source knows how to appear in a DuckDB connection as a view with its own columns
plus ``__seq``, a number that orders rows of the source deterministically. The
point-in-time join uses it to break ties between rows with equal event and created
timestamps: the later row in the source wins (for files: later file, then later row; for
SQL queries, whose row order is not defined, the row's hash decides).
"""

from __future__ import annotations

import glob as globlib
import hashlib
import json
import os
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from shipyard.config import redact_uri
from shipyard.errors import InvalidFeature
from shipyard.features._sql import check_name, duckdb_errors, ident, literal

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

# Where relative FileSource paths resolve while a repo folder's files are loaded.
DEFINITION_DIR: ContextVar[Path | None] = ContextVar("shipyard_definition_dir", default=None)

PUSHED_SEQ_BASE = 1 << 62  # pushed rows sort after every batch row: they are fresher
FILE_SEQ_SHIFT = 1 << 32


@dataclass
class SourceContext:
    """What a source needs from the feature store to show itself to DuckDB."""

    pushed_dir: str  # folder or URL of pushed Parquet segments, one subfolder per source
    load_blob: Any = None  # callable(hash) -> pandas DataFrame, for applied DataFrameSources


@dataclass(eq=False)
class Source:
    """Base: name, timestamp columns and catalog metadata shared by every source."""

    kind: ClassVar[str] = ""
    name: str = ""
    timestamp_field: str = "event_timestamp"
    created_timestamp_column: str | None = None
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    def _check(self) -> None:
        check_name("source", self.name)
        if not self.timestamp_field:
            raise InvalidFeature(f"source {self.name!r} needs a timestamp_field")

    def register(self, con: duckdb.DuckDBPyConnection, alias: str, ctx: SourceContext) -> None:
        """Create view ``alias`` over this source's rows, with a ``__seq`` column."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        """Changes when the data changes (cheaply: sizes and mtimes, a query's text)."""
        raise NotImplementedError

    def data_fingerprint(self, ctx: SourceContext) -> str | None:
        """Changes whenever the rows change, or None when no cheap fingerprint can promise
        that (a query's text says nothing of the rows it returns). Work derived from the
        rows alone may be kept under it (``features.cache``)."""
        return None

    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "timestamp_field": self.timestamp_field,
            "created_timestamp_column": self.created_timestamp_column,
            "description": self.description,
            "owner": self.owner,
            "tags": dict(self.tags),
        }

    def blobs(self) -> dict[str, Any]:
        """Objects to store as blobs at apply time, by spec key."""
        return {}

    def describe(self) -> str:
        return self.kind


@dataclass(eq=False)
class FileSource(Source):
    """Parquet or CSV: a file, a folder (read recursively, Hive partitions understood) or
    a glob; local or any fsspec URL (``s3://``, ``gs://``, ``memory://``)."""

    kind: ClassVar[str] = "file"
    path: str = ""
    file_format: str | None = None  # parquet | csv; inferred from the path when None

    def __post_init__(self) -> None:
        if not self.path:
            raise InvalidFeature("FileSource needs a path")
        if "\x00" in str(self.path):
            raise InvalidFeature(f"FileSource path {str(self.path)!r} contains a NUL byte")
        self.path = _absolute(str(self.path))
        if not self.name:
            self.name = _name_from_path(self.path)
        if self.file_format is None:
            self.file_format = "csv" if self.path.rstrip("/").endswith(".csv") else "parquet"
        if self.file_format not in ("parquet", "csv"):
            raise InvalidFeature(
                f"source {self.name!r}: file_format {self.file_format!r} is not parquet or csv"
            )
        self._check()

    def files(self) -> list[str]:
        """The data files, sorted: their order is the tie-break order."""
        if self._is_local() and not globlib.has_magic(self.path):
            local = self.path.removeprefix("file://")
            if os.path.isfile(local):  # one local file: no need to import fsspec
                return [local]
        fs, root = self._filesystem()
        if fs.isdir(root):
            pattern = f"{root.rstrip('/')}/**/*.{self.file_format}"
            found = sorted(p for p in fs.glob(pattern) if fs.isfile(p))
        elif globlib.has_magic(root):
            found = sorted(fs.glob(root))
        else:
            found = [root] if fs.exists(root) else []
        if not found:
            raise InvalidFeature(
                f"source {self.name!r}: no {self.file_format} data at {self.path}; "
                "check the path (relative paths resolve against the definitions folder)"
            )
        if self._is_local():
            return found
        return [fs.unstrip_protocol(p) for p in found]

    def _is_local(self) -> bool:
        return "://" not in self.path or self.path.startswith("file://")

    def _filesystem(self) -> tuple[Any, str]:
        import fsspec

        if self._is_local():
            return fsspec.filesystem("file"), self.path.removeprefix("file://")
        fs, root = fsspec.core.url_to_fs(self.path)
        return fs, root

    def register(self, con: duckdb.DuckDBPyConnection, alias: str, ctx: SourceContext) -> None:
        files = self.files()
        _register_fsspec(con, files[0])
        with duckdb_errors(f"source {self.name!r}: reading {self.path}"):
            con.execute(f"CREATE OR REPLACE VIEW {ident(alias)} AS {_file_scan(files, self)}")

    def fingerprint(self) -> str:
        """Paths, sizes and modification stamps of the data files (remote stores: their
        size plus whichever of mtime, ETag or creation time they report)."""
        h = hashlib.sha256()
        for path in self.files():
            h.update(path.encode())
            if self._is_local():
                st = os.stat(path)
                h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
                continue
            info = self._filesystem()[0].info(path)
            stamps = [info.get(k) for k in ("size", "mtime", "LastModified", "ETag", "created")]
            h.update(repr(stamps).encode())
        return h.hexdigest()

    def data_fingerprint(self, ctx: SourceContext) -> str | None:
        return self.fingerprint()

    def to_spec(self) -> dict[str, Any]:
        return {**super().to_spec(), "path": self.path, "file_format": self.file_format}

    def describe(self) -> str:
        return f"{self.file_format} {self.path}"


@dataclass(eq=False)
class SqlSource(Source):
    """A SQL query: run by DuckDB (``connection=None``; it may read files, e.g.
    ``read_parquet('x/*.parquet')``) or by a database through SQLAlchemy
    (``connection="postgresql://…"``), streamed into DuckDB in chunks."""

    kind: ClassVar[str] = "sql"
    query: str = ""
    connection: str | None = None

    def __post_init__(self) -> None:
        if not self.query.strip():
            raise InvalidFeature(f"SqlSource {self.name!r} needs a query")
        self._check()

    def register(self, con: duckdb.DuckDBPyConnection, alias: str, ctx: SourceContext) -> None:
        raw = alias + "__raw"
        if self.connection is None:
            with duckdb_errors(f"source {self.name!r}: its query"):
                con.execute(f"CREATE OR REPLACE VIEW {ident(raw)} AS {self.query}")
        else:
            from shipyard.features.database import load_query

            load_query(
                con, raw, self.connection, self.query, self.name, redact_uri(self.connection)
            )
        con.execute(
            f"CREATE OR REPLACE VIEW {ident(alias)} AS "
            f"SELECT r.*, hash(r)::UBIGINT AS __seq FROM {ident(raw)} r"
        )

    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.connection}\n{self.query}".encode()).hexdigest()

    def to_spec(self) -> dict[str, Any]:
        conn = redact_uri(self.connection) if self.connection else None
        return {**super().to_spec(), "query": self.query, "connection": conn}

    def describe(self) -> str:
        return f"sql ({redact_uri(self.connection) if self.connection else 'duckdb'})"


@dataclass(eq=False)
class DataFrameSource(Source):
    """An in-memory pandas DataFrame. Applying it stores the data as a Parquet blob, so
    other processes (and later sessions) read the same rows."""

    kind: ClassVar[str] = "dataframe"
    df: Any = None

    def __post_init__(self) -> None:
        import pandas as pd

        if not isinstance(self.df, pd.DataFrame):
            raise InvalidFeature(f"DataFrameSource {self.name!r} needs a pandas DataFrame")
        self._check()
        self._fingerprint: str | None = None

    def register(self, con: duckdb.DuckDBPyConnection, alias: str, ctx: SourceContext) -> None:
        import numpy as np
        import pyarrow as pa

        table = pa.Table.from_pandas(self.df, preserve_index=False)
        table = table.append_column("__seq", pa.array(np.arange(len(table), dtype=np.uint64)))
        con.register(alias, table)

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = frame_fingerprint(self.df)
        return self._fingerprint

    def data_fingerprint(self, ctx: SourceContext) -> str | None:
        return self.fingerprint()

    def to_spec(self) -> dict[str, Any]:
        return {**super().to_spec(), "data": self.fingerprint()}

    def blobs(self) -> dict[str, Any]:
        return {"data": self.df}

    def describe(self) -> str:
        return f"dataframe ({len(self.df):,} rows)"


@dataclass(eq=False)
class PushSource(Source):
    """Rows pushed by a stream (``store.push``) on top of a batch source. Pushed rows go
    online at once and are kept as Parquet segments that offline reads include."""

    kind: ClassVar[str] = "push"
    batch_source: Source | None = None

    def __post_init__(self) -> None:
        if self.batch_source is None:
            raise InvalidFeature(f"PushSource {self.name!r} needs a batch_source")
        self.timestamp_field = self.batch_source.timestamp_field
        self.created_timestamp_column = self.batch_source.created_timestamp_column
        self._check()

    def pushed_dir(self, ctx: SourceContext) -> str:
        return f"{ctx.pushed_dir.rstrip('/')}/{self.name}"

    def pushed_files(self, ctx: SourceContext) -> list[str]:
        """The pushed segments, oldest first (their names start with the push time)."""
        import fsspec

        folder = self.pushed_dir(ctx)
        fs, root = fsspec.core.url_to_fs(folder)
        found = sorted(fs.glob(f"{root}/*.parquet"))
        return found if "://" not in folder else [fs.unstrip_protocol(p) for p in found]

    def register(self, con: duckdb.DuckDBPyConnection, alias: str, ctx: SourceContext) -> None:
        assert self.batch_source is not None
        batch = alias + "__batch"
        self.batch_source.register(con, batch, ctx)
        files = self.pushed_files(ctx)
        if not files:
            con.execute(f"CREATE OR REPLACE VIEW {ident(alias)} AS FROM {ident(batch)}")
            return
        _register_fsspec(con, files[0])
        pushed = _file_scan(files, self, seq_base=PUSHED_SEQ_BASE)
        con.execute(
            f"CREATE OR REPLACE VIEW {ident(alias)} AS "
            f"SELECT * FROM {ident(batch)} UNION ALL BY NAME {pushed}"
        )

    def fingerprint(self) -> str:
        assert self.batch_source is not None
        return self.batch_source.fingerprint()

    def data_fingerprint(self, ctx: SourceContext) -> str | None:
        """The batch source's, and the pushed segments' names, sizes and times."""
        import fsspec

        assert self.batch_source is not None
        batch = self.batch_source.data_fingerprint(ctx)
        if batch is None:
            return None
        h = hashlib.sha256(batch.encode())
        files = self.pushed_files(ctx)
        fs = fsspec.core.url_to_fs(files[0])[0] if files else None
        for path in files:
            assert fs is not None
            info = fs.info(path)
            stamps = [info.get(k) for k in ("size", "mtime", "LastModified", "ETag", "created")]
            h.update(f"{path}\n{stamps!r}\n".encode())
        return h.hexdigest()

    def to_spec(self) -> dict[str, Any]:
        assert self.batch_source is not None
        return {**super().to_spec(), "batch_source": self.batch_source.to_spec()}

    def blobs(self) -> dict[str, Any]:
        assert self.batch_source is not None
        return {f"batch_source.{k}": v for k, v in self.batch_source.blobs().items()}

    def describe(self) -> str:
        assert self.batch_source is not None
        return f"push over {self.batch_source.describe()}"


SOURCE_KINDS: dict[str, type[Source]] = {
    c.kind: c for c in (FileSource, SqlSource, DataFrameSource, PushSource)
}


def source_from_spec(spec: dict[str, Any], load_blob: Any) -> Source:
    """Rebuild an applied source; ``load_blob({"hash", "serializer"})`` loads its data."""
    spec = dict(spec)
    kind = spec.pop("kind")
    cls = SOURCE_KINDS.get(kind)
    if cls is None:
        raise InvalidFeature(f"unknown source kind {kind!r} in the registry")
    blob_hashes = spec.pop("blob_hashes", {})
    known = None
    if kind == "dataframe":
        known = spec.pop("data", None)  # the frame's fingerprint, computed at apply
        spec["df"] = load_blob(blob_hashes["data"])
    if kind == "push":
        inner = dict(spec.pop("batch_source"))
        inner["blob_hashes"] = {
            k.removeprefix("batch_source."): v
            for k, v in blob_hashes.items()
            if k.startswith("batch_source.")
        }
        spec["batch_source"] = source_from_spec(inner, load_blob)
        spec.pop("timestamp_field", None)
        spec.pop("created_timestamp_column", None)
    source = cls(**spec)
    if isinstance(source, DataFrameSource) and isinstance(known, str):
        source._fingerprint = known  # the blob is hash-checked: the same rows
    return source


def frame_fingerprint(df: pd.DataFrame) -> str:
    """A content hash of a DataFrame: its columns, dtypes and values."""
    import pandas as pd

    h = hashlib.sha256(json.dumps([[str(c), str(t)] for c, t in df.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def _file_scan(files: list[str], source: Source, seq_base: int = 0) -> str:
    reader = "read_csv" if getattr(source, "file_format", "parquet") == "csv" else "read_parquet"
    paths = "[" + ", ".join(literal(f) for f in files) + "]"
    options = "hive_partitioning = true, union_by_name = true"
    if reader == "read_csv":
        options = "union_by_name = true"
    seq = f"({seq_base} + file_index::UBIGINT * {FILE_SEQ_SHIFT} + file_row_number::UBIGINT)"
    if reader == "read_csv":  # CSV has no file_row_number; a row's position is its order
        seq = f"({seq_base} + file_index::UBIGINT * {FILE_SEQ_SHIFT} + row_number() OVER ())"
        return f"SELECT *, {seq}::UBIGINT AS __seq FROM {reader}({paths}, {options})"
    return (
        f"SELECT * EXCLUDE (file_row_number), {seq}::UBIGINT AS __seq "
        f"FROM {reader}({paths}, {options}, file_row_number = true)"
    )


def _register_fsspec(con: duckdb.DuckDBPyConnection, path: str) -> None:
    if "://" not in path or path.startswith("file://"):
        return
    import fsspec

    protocol = path.split("://", 1)[0]
    if not con.filesystem_is_registered(protocol):
        con.register_filesystem(fsspec.filesystem(protocol))


def _absolute(path: str) -> str:
    if "://" in path:
        return path
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = (DEFINITION_DIR.get() or Path.cwd()) / p
    return str(p.resolve()) if not globlib.has_magic(str(p)) else str(p)


def _name_from_path(path: str) -> str:
    stem = Path(path.rstrip("/").split("://")[-1]).name.split(".")[0]
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in stem) or "source"
    return cleaned if not cleaned[0].isdigit() else "_" + cleaned
