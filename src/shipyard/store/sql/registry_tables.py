"""Model registry tables, on the same ``metadata`` as the tracking tables.

A model version is immutable once written (only its status changes), so a version row is
never updated otherwise. Aliases are one row per (model, alias); every move of an alias is
appended to ``alias_moves`` and never changed. Signatures, requirements, metrics, tags and
gate results are JSON text. A version only remembers the run that produced it: purging the
run sets ``run_id`` NULL and the model's blob stays referenced (``BLOB_REFERENCES``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shipyard.store.sql.tables import BLOB_REFERENCES, BigId, metadata

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("owner", String(256), nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("tags", Text, nullable=False, default="{}"),  # JSON
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("model_id", BigId, ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("flavor", String(64), nullable=False),
    Column("blob_hash", String(64), nullable=False),
    # the run that produced it, if any; a version outlives its run (purging sets this NULL)
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("dataset", String(1024), nullable=True),  # "project/name/version"
    Column("feature_service", String(1024), nullable=True),  # "project/name"
    Column("signature", Text, nullable=False),  # JSON
    Column("requirements", Text, nullable=False),  # JSON list
    Column("metrics", Text, nullable=False),  # JSON
    Column("owner", String(256), nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("tags", Text, nullable=False),  # JSON
    Column("status", String(16), nullable=False),  # READY | ARCHIVED
    Column("created_by", String(256), nullable=False, default=""),
    Column("created_ms", BigInteger, nullable=False),
    # the reference profile (JSON blob) monitoring compares live traffic with; 0006
    Column("profile_hash", String(64), nullable=True),
    # also the index for "latest version of a model": max(version) per model
    UniqueConstraint("model_id", "version", name="uq_model_versions_model_id_version"),
    Index("ix_model_versions_blob_hash", "blob_hash"),
    Index("ix_model_versions_run_id", "run_id"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", BigId, ForeignKey("registered_models.id"), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    # an alias always points at a version that exists
    ForeignKeyConstraint(
        ["model_id", "version"],
        ["model_versions.model_id", "model_versions.version"],
        name="fk_model_aliases_model_id_version_model_versions",
    ),
)

alias_moves = Table(
    "alias_moves",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("model_id", BigId, ForeignKey("registered_models.id"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("from_version", Integer, nullable=True),  # NULL: the alias was not set
    Column("to_version", Integer, nullable=True),  # NULL: the alias was removed
    Column("moved_by", String(256), nullable=False, default=""),
    Column("moved_ms", BigInteger, nullable=False),
    Column("gates", Text, nullable=False),  # JSON list of gate results
    Index("ix_alias_moves_model_id_alias_moved_ms", "model_id", "alias", "moved_ms"),
)

# owners who left: their models count as stale in `shipyard models ls` until handed over
gone_owners = Table(
    "gone_owners",
    metadata,
    Column("owner", String(256), primary_key=True),
    Column("marked_by", String(256), nullable=False),
    Column("marked_ms", BigInteger, nullable=False),
)

BLOB_REFERENCES.append((model_versions, model_versions.c.blob_hash))
BLOB_REFERENCES.append((model_versions, model_versions.c.profile_hash))
