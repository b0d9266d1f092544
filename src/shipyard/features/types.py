"""Feature value types: what a definition declares, and how each maps to DuckDB and Arrow.

A source column is accepted for a declared type when it converts without losing meaning
(an INTEGER column for Int64, any integer for Float64); otherwise the definition and the
data disagree, and the error says which column and what to change.
"""

from __future__ import annotations

from enum import StrEnum


class Dtype(StrEnum):
    INT32 = "int32"
    INT64 = "int64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    STRING = "string"
    BOOL = "bool"
    TIMESTAMP = "timestamp"
    BYTES = "bytes"

    @property
    def duckdb(self) -> str:
        return _DUCKDB[self]

    def accepts(self, duckdb_type: str) -> bool:
        """Can a source column of this DuckDB type be read as this dtype?"""
        return _family(duckdb_type) in _ACCEPTS[self]

    @classmethod
    def parse(cls, value: Dtype | str | type) -> Dtype:
        if isinstance(value, Dtype):
            return value
        if isinstance(value, type):
            found = _PYTHON_TYPES.get(value)
            if found is None:
                raise ValueError(f"no feature dtype for Python type {value.__name__}")
            return found
        try:
            return cls(str(value).lower())
        except ValueError:
            known = ", ".join(d.value for d in cls)
            raise ValueError(f"unknown dtype {value!r}; known: {known}") from None


Int32 = Dtype.INT32
Int64 = Dtype.INT64
Float32 = Dtype.FLOAT32
Float64 = Dtype.FLOAT64
String = Dtype.STRING
Bool = Dtype.BOOL
Timestamp = Dtype.TIMESTAMP
UnixTimestamp = Dtype.TIMESTAMP  # Feast's name
Bytes = Dtype.BYTES

JOIN_KEY_DTYPES = (Dtype.INT32, Dtype.INT64, Dtype.STRING)

_DUCKDB = {
    Dtype.INT32: "INTEGER",
    Dtype.INT64: "BIGINT",
    Dtype.FLOAT32: "FLOAT",
    Dtype.FLOAT64: "DOUBLE",
    Dtype.STRING: "VARCHAR",
    Dtype.BOOL: "BOOLEAN",
    Dtype.TIMESTAMP: "TIMESTAMPTZ",
    Dtype.BYTES: "BLOB",
}

_INTEGERS = {"int", "uint"}
_ACCEPTS = {
    Dtype.INT32: _INTEGERS,
    Dtype.INT64: _INTEGERS,
    Dtype.FLOAT32: _INTEGERS | {"float", "decimal"},
    Dtype.FLOAT64: _INTEGERS | {"float", "decimal"},
    Dtype.STRING: {"string"},
    Dtype.BOOL: {"bool"},
    Dtype.TIMESTAMP: {"timestamptz"},
    Dtype.BYTES: {"blob"},
}

_PYTHON_TYPES = {int: Dtype.INT64, float: Dtype.FLOAT64, str: Dtype.STRING, bool: Dtype.BOOL}


def _family(duckdb_type: str) -> str:
    t = duckdb_type.upper()
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"):
        return "int"
    if t.startswith("U") and t[1:] in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"):
        return "uint"
    if t in ("FLOAT", "DOUBLE", "REAL"):
        return "float"
    if t.startswith("DECIMAL"):
        return "decimal"
    if t in ("VARCHAR", "STRING", "TEXT") or t.startswith("VARCHAR"):
        return "string"
    if t == "BOOLEAN":
        return "bool"
    if t in (
        "TIMESTAMP WITH TIME ZONE",
        "TIMESTAMPTZ",
        "TIMESTAMPTZ_NS",
        "TIMESTAMP_NS WITH TIME ZONE",
    ):
        return "timestamptz"
    if t.startswith("TIMESTAMP") or t == "DATE":
        return "naive_timestamp"
    if t == "BLOB":
        return "blob"
    return t.lower()


def is_naive_timestamp(duckdb_type: str) -> bool:
    return _family(duckdb_type) == "naive_timestamp"


def is_aware_timestamp(duckdb_type: str) -> bool:
    return _family(duckdb_type) == "timestamptz"
