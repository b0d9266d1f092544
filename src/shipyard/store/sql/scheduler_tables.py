"""Event and scheduler tables, on the same ``metadata`` as the other tables.

``events`` is an append-only log of what happened on the platform (an alert fired, a model
version registered, a dataset saved), each a name and a JSON payload. A deployment is a flow
file the scheduler runs (its cron schedule and the events that trigger it). Every firing
(a cron due time or an event, for one deployment) is claimed by inserting one
``scheduler_firings`` row under a unique key before its run starts, so two schedulers on
one store never start the same run twice; the row then records how the firing went.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, UniqueConstraint

from shipyard.store.sql.tables import BigId, metadata

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),  # alert.fired, model.registered, ...
    Column("payload", Text, nullable=False),  # JSON object
    Column("source", String(256), nullable=False),  # what emitted it: "alert:12", ""
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_events_name_id", "name", "id"),
)

scheduler_deployments = Table(
    "scheduler_deployments",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("flow_name", String(256), nullable=False),  # the FlowSpec class
    Column("path", String(4096), nullable=False),  # absolute path of the flow file
    Column("file_hash", String(64), nullable=False),  # sha256 of the file when deployed
    Column("schedule", String(128), nullable=True),  # cron, or NULL
    Column("timezone", String(64), nullable=True),  # IANA name; NULL: UTC
    Column("triggers", Text, nullable=False),  # JSON list of {name, filters, parameters}
    Column("event_cursor", BigInteger, nullable=False),  # events at or below are settled
    Column("deployed_by", String(256), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    UniqueConstraint("name", name="uq_scheduler_deployments_name"),
)

scheduler_firings = Table(
    "scheduler_firings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("deployment", String(256), nullable=False),
    Column("firing_key", String(600), nullable=False),  # the claim: one row per firing
    Column("kind", String(16), nullable=False),  # schedule | event
    Column("event_id", BigInteger, nullable=True),
    Column("due_ms", BigInteger, nullable=False),  # the cron due time, or the event's time
    Column("status", String(16), nullable=False),  # claimed|running|succeeded|failed|error|lost
    Column("claimed_by", String(256), nullable=False),  # host:pid of the scheduler
    Column("claimed_ms", BigInteger, nullable=False),
    Column("lease_until_ms", BigInteger, nullable=False),
    Column("started_ms", BigInteger, nullable=True),
    Column("finished_ms", BigInteger, nullable=True),
    Column("pid", Integer, nullable=True),
    Column("run_id", String(32), nullable=True),  # the flow's tracking run
    Column("flow_run", String(300), nullable=True),  # its pathspec, Flow/12
    Column("log_path", String(4096), nullable=True),
    Column("message", Text, nullable=False),
    UniqueConstraint("firing_key", name="uq_scheduler_firings_firing_key"),
    Index("ix_scheduler_firings_deployment_id", "deployment", "id"),
)
