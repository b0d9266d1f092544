"""features: feature_objects, feature_object_blobs, feature_materializations,
feature_stats, datasets

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 09:12:41.208113
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "feature_objects",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_feature_objects_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_objects")),
        sa.UniqueConstraint(
            "project_id",
            "kind",
            "name",
            "version",
            name="uq_feature_objects_project_id_kind_name_version",
        ),
    )
    op.create_table(
        "feature_object_blobs",
        sa.Column("object_id", BigId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("blob_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["object_id"],
            ["feature_objects.id"],
            name=op.f("fk_feature_object_blobs_object_id_feature_objects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("object_id", "position", name=op.f("pk_feature_object_blobs")),
    )
    with op.batch_alter_table("feature_object_blobs", schema=None) as batch_op:
        batch_op.create_index("ix_feature_object_blobs_blob_hash", ["blob_hash"], unique=False)

    op.create_table(
        "feature_materializations",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("view_name", sa.String(length=256), nullable=False),
        sa.Column("view_version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=True),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_feature_materializations_project_id_projects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_materializations")),
    )
    with op.batch_alter_table("feature_materializations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feature_materializations_project_view_created",
            ["project_id", "view_name", "created_ms"],
            unique=False,
        )
        batch_op.create_index(
            "ix_feature_materializations_project_kind_view_end",
            ["project_id", "kind", "view_name", "end_ms"],
            unique=False,
        )

    op.create_table(
        "feature_stats",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("view_name", sa.String(length=256), nullable=False),
        sa.Column("view_version", sa.Integer(), nullable=False),
        sa.Column("feature", sa.String(length=256), nullable=False),
        sa.Column("dtype", sa.String(length=64), nullable=False),
        sa.Column("value_count", sa.BigInteger(), nullable=False),
        sa.Column("null_count", sa.BigInteger(), nullable=False),
        sa.Column("distinct_count", sa.BigInteger(), nullable=True),
        sa.Column("min_value", sa.Text(), nullable=True),
        sa.Column("max_value", sa.Text(), nullable=True),
        sa.Column("mean", sa.Float(), nullable=True),
        sa.Column("computed_ms", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_feature_stats_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_stats")),
    )
    with op.batch_alter_table("feature_stats", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feature_stats_project_view_feature_computed",
            ["project_id", "view_name", "feature", "computed_ms"],
            unique=False,
        )

    op.create_table(
        "datasets",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("project_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("blob_hash", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("lineage", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_datasets_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_datasets_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint(
            "project_id", "name", "version", name="uq_datasets_project_id_name_version"
        ),
    )
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.create_index("ix_datasets_blob_hash", ["blob_hash"], unique=False)
        batch_op.create_index("ix_datasets_run_id", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_table("datasets")  # dropping a table drops its indexes
    op.drop_table("feature_stats")
    op.drop_table("feature_materializations")
    op.drop_table("feature_object_blobs")
    op.drop_table("feature_objects")
