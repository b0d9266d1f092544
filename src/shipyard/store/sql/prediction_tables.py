"""The prediction log tables, on the same ``metadata`` as the other tables.

One row per model call (a request, or the part of it one variant answered), its inputs,
fetched features and outputs as columnar JSON: logging a 1,000-row request is one short
insert, and monitoring turns a call back into a frame in one parse. Labels live in their
own table, one row per prediction id, set when ground truth arrives.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shipyard.store.sql.tables import BLOB_REFERENCES, BigId, metadata

predictions = Table(
    "predictions",
    metadata,
    Column("id", String(26), primary_key=True),  # time-first: the key is a time index too
    Column("model", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("variant", String(64), nullable=False),
    Column("shadow", Boolean, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("inputs", Text, nullable=False),  # JSON {column: [values]}
    Column("features", Text, nullable=True),  # JSON {column: [values]}
    Column("outputs", Text, nullable=False),  # JSON [value per row]
    Column("error", Text, nullable=True),  # a failed call: "STATUS: message"; rows 0
    Index("ix_predictions_model_ts_ms", "model", "ts_ms"),
)

prediction_labels = Table(
    "prediction_labels",
    metadata,
    Column("prediction_id", String(32), primary_key=True),
    Column("call_id", String(26), nullable=False),
    Column("label", Text, nullable=False),  # JSON
    Column("labelled_ms", BigInteger, nullable=False),
    Index("ix_prediction_labels_call_id", "call_id"),
)

# Columnar copies of the log for monitoring: each segment is one Parquet blob holding every
# call of one model version in one aligned time bucket [first_ts_ms, last_ts_ms] (inclusive
# bounds of the bucket, not of the calls); monitoring reads them with DuckDB. One row per
# (model, bucket, version): a rewrite (late calls) replaces the row, never adds one.
prediction_segments = Table(
    "prediction_segments",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("model", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("first_ts_ms", BigInteger, nullable=False),
    Column("last_ts_ms", BigInteger, nullable=False),
    Column("calls", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("blob_hash", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("model", "first_ts_ms", "version"),
)
BLOB_REFERENCES.append((prediction_segments, prediction_segments.c.blob_hash))
