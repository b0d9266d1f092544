"""The prediction log table, on the same ``metadata`` as the other tables.

One row per predicted input row. Inputs, fetched features and the output are JSON text
(their shape depends on the model); everything monitoring filters on is a column. The id
starts with the prediction time, so the primary key is also a time index; the label is
set in place when ground truth arrives.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, String, Table, Text

from shipyard.store.sql.tables import metadata

predictions = Table(
    "predictions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("variant", String(64), nullable=False),
    Column("shadow", Boolean, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("inputs", Text, nullable=False),  # JSON object
    Column("features", Text, nullable=True),  # JSON object
    Column("output", Text, nullable=False),  # JSON
    Column("label", Text, nullable=True),  # JSON
    Column("labelled_ms", BigInteger, nullable=True),
    Index("ix_predictions_model_ts_ms", "model", "ts_ms"),
)
