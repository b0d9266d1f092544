"""Feature store metadata tables, on the same ``metadata`` as the tracking tables.

Feature objects are append-only: every apply writes a new version row (a removal writes a
tombstone with ``deleted`` set), so history is a query. Specs, lineage and min/max values
are JSON text. Blob references are listed in ``BLOB_REFERENCES`` for garbage collection;
none of these tables belongs to a run, so deleting a run never frees their blobs (a
dataset only remembers the run that made it, and forgets it when the run is purged).
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
)

from shipyard.store.sql.tables import BLOB_REFERENCES, BigId, metadata

feature_objects = Table(
    "feature_objects",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", BigId, ForeignKey("projects.id"), nullable=False),
    # entity | source | feature_view | on_demand_feature_view | feature_service
    Column("kind", String(64), nullable=False),
    Column("name", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("spec", Text, nullable=False),  # JSON
    Column("fingerprint", String(128), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("created_by", String(256), nullable=False, default=""),
    Column("created_ms", BigInteger, nullable=False),
    # also the index for "latest version of each object": max(version) per prefix
    UniqueConstraint(
        "project_id",
        "kind",
        "name",
        "version",
        name="uq_feature_objects_project_id_kind_name_version",
    ),
)

feature_object_blobs = Table(
    "feature_object_blobs",
    metadata,
    Column(
        "object_id",
        BigId,
        ForeignKey("feature_objects.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),  # keeps the order of FeatureObject.blobs
    Column("blob_hash", String(64), nullable=False),
    Index("ix_feature_object_blobs_blob_hash", "blob_hash"),
)

feature_materializations = Table(
    "feature_materializations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", BigId, ForeignKey("projects.id"), nullable=False),
    Column("view_name", String(256), nullable=False),
    Column("view_version", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # materialize | push
    Column("start_ms", BigInteger, nullable=True),
    Column("end_ms", BigInteger, nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("duration_ms", BigInteger, nullable=False),
    Index(
        "ix_feature_materializations_project_view_created", "project_id", "view_name", "created_ms"
    ),
    # watermarks: max(end_ms) of "materialize" records per view
    Index(
        "ix_feature_materializations_project_kind_view_end",
        "project_id",
        "kind",
        "view_name",
        "end_ms",
    ),
)

feature_stats = Table(
    "feature_stats",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", BigId, ForeignKey("projects.id"), nullable=False),
    Column("view_name", String(256), nullable=False),
    Column("view_version", Integer, nullable=False),
    Column("feature", String(256), nullable=False),
    Column("dtype", String(64), nullable=False),
    Column("value_count", BigInteger, nullable=False),
    Column("null_count", BigInteger, nullable=False),
    Column("distinct_count", BigInteger, nullable=True),
    Column("min_value", Text, nullable=True),  # JSON; NULL when not comparable
    Column("max_value", Text, nullable=True),
    Column("mean", Float, nullable=True),
    Column("computed_ms", BigInteger, nullable=False),
    Column("computed_at", String(16), nullable=False),  # apply | materialize
    # "latest statistics per (view, feature)"
    Index(
        "ix_feature_stats_project_view_feature_computed",
        "project_id",
        "view_name",
        "feature",
        "computed_ms",
    ),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", BigId, ForeignKey("projects.id"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("blob_hash", String(64), nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("lineage", Text, nullable=False),  # JSON
    Column("created_by", String(256), nullable=False, default=""),
    Column("created_ms", BigInteger, nullable=False),
    # the run that built it, if any; a dataset outlives its run (purging sets this NULL)
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    UniqueConstraint("project_id", "name", "version", name="uq_datasets_project_id_name_version"),
    Index("ix_datasets_blob_hash", "blob_hash"),
    Index("ix_datasets_run_id", "run_id"),
)

BLOB_REFERENCES.extend(
    [(feature_object_blobs, feature_object_blobs.c.blob_hash), (datasets, datasets.c.blob_hash)]
)
