"""Monitor and alert tables, on the same ``metadata`` as the other tables.

A monitor is a declared check on a model (its spec is JSON, its name unique per model). Each
evaluation appends one row to ``monitor_results``, a time series tied to the model version it
concerned. A monitor crossing its threshold opens an alert (one open alert per monitor while
it keeps firing); every delivery of an alert to a webhook is one ``alert_deliveries`` row,
updated after each attempt, so a failure is recorded, never lost.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from shipyard.store.sql.tables import BigId, metadata

monitors = Table(
    "monitors",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("model", String(256), nullable=False),  # registered model name
    Column("target", String(64), nullable=False),  # "@alias", a version number, or "" (latest)
    Column("check_kind", String(32), nullable=False),
    Column("schedule", String(128), nullable=False),  # cron
    Column("spec", Text, nullable=False),  # JSON: the declaration as given
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    UniqueConstraint("model", "name", name="uq_monitors_model_name"),
)

monitor_results = Table(
    "monitor_results",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("monitor_id", BigId, ForeignKey("monitors.id"), nullable=False),
    Column("model", String(256), nullable=False),
    Column("version", Integer, nullable=True),  # NULL: the target did not resolve
    Column("status", String(16), nullable=False),  # ok | fired | error
    Column("evaluated_ms", BigInteger, nullable=False),
    Column("window_start_ms", BigInteger, nullable=False),
    Column("window_end_ms", BigInteger, nullable=False),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("fired", Boolean, nullable=False),
    Column("details", Text, nullable=False),  # JSON: per-feature values, the error message
    Index("ix_monitor_results_monitor_id_evaluated_ms", "monitor_id", "evaluated_ms"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("monitor_id", BigId, ForeignKey("monitors.id"), nullable=False),
    Column("model", String(256), nullable=False),
    Column("version", Integer, nullable=True),
    Column("state", String(16), nullable=False),  # firing | resolved
    Column("dedup_key", String(600), nullable=False),
    Column("message", Text, nullable=False),
    Column("first_fired_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    Column("resolved_ms", BigInteger, nullable=True),
    Index("ix_alerts_dedup_key_state", "dedup_key", "state"),
    # at most one firing alert per key, even when two `monitor run`s open it at once.
    # Partial on both backends (migration 0007 creates it with postgresql_where too); not
    # declared here for PostgreSQL, whose dialect a postgresql_ option would import on
    # every SQLite store open (~30 ms)
    Index(
        "uq_alerts_one_firing",
        "dedup_key",
        unique=True,
        sqlite_where=text("state = 'firing'"),
    ),
)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("alert_id", BigId, ForeignKey("alerts.id"), nullable=False),
    Column("event", String(16), nullable=False),  # firing | resolved
    Column("destination", String(2048), nullable=False),
    Column("payload_kind", String(16), nullable=False),  # json | slack
    Column("attempts", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("last_error", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("last_attempt_ms", BigInteger, nullable=True),
    Index("ix_alert_deliveries_alert_id", "alert_id"),
)
