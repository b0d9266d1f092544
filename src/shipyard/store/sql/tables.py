"""Table definitions. Later capabilities add their own modules on the same ``metadata``.

Conventions: times are epoch milliseconds (BigInteger); run ids are 32-char hex strings;
every blob reference is a 64-char sha256 hex column listed in ``BLOB_REFERENCES`` so that
garbage collection knows what is in use.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# SQLite only makes INTEGER PRIMARY KEY an auto-incrementing rowid alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")

projects = Table(
    "projects",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False, default=""),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", BigId, ForeignKey("projects.id"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("kind", String(32), nullable=False, default="run"),  # run | flow | task
    Column("parent_id", String(32), ForeignKey("runs.id"), nullable=True),
    Column("status", String(16), nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=True),
    Column("heartbeat_ms", BigInteger, nullable=False),
    Column("user", String(256), nullable=False, default=""),
    Column("host", String(256), nullable=False, default=""),
    Column("pid", Integer, nullable=False, default=0),
    Column("command", Text, nullable=False, default=""),
    Column("code_version", String(64), nullable=False, default=""),
    Column("environment_hash", String(64), nullable=True),
    Column("deleted_ms", BigInteger, nullable=True),
    Index("ix_runs_project_start", "project_id", "start_ms"),
    Index("ix_runs_status_heartbeat", "status", "heartbeat_ms"),
    Index("ix_runs_parent", "parent_id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float, nullable=True),  # NULL means NaN
    Column("step", BigInteger, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Float, nullable=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Index("ix_latest_metrics_key_value", "key", "value"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("blob_hash", String(64), nullable=False, index=True),
    Column("size", BigInteger, nullable=False),
    Column("serializer", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

# (table, column) pairs that hold blob hashes; gc keeps every blob named here.
BLOB_REFERENCES = [(artifacts, artifacts.c.blob_hash), (runs, runs.c.environment_hash)]

# -- flows: a flow run is a run (kind "flow"); each task is a child run (kind "task") -----

flow_runs = Table(
    "flow_runs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("flow_name", String(256), nullable=False),
    Column("number", BigInteger, nullable=False),
    Column("origin_run_id", String(32), nullable=True),  # the run a resume continues
    Column("graph", Text, nullable=False, default=""),  # JSON, for show and the UI
    UniqueConstraint("flow_name", "number", name="uq_flow_runs_flow_name_number"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("flow_run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step", String(256), nullable=False),
    Column("foreach_path", String(512), nullable=False, default=""),  # "0/3": nested indices
    Column("attempt", Integer, nullable=False, default=0),
    Column("input_ids", Text, nullable=False, default="[]"),  # JSON list of task run ids
    Column("stdout_hash", String(64), nullable=True),
    Column("stderr_hash", String(64), nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_tasks_flow_run_step", "flow_run_id", "step"),
)

BLOB_REFERENCES += [(tasks, tasks.c.stdout_hash), (tasks, tasks.c.stderr_hash)]
