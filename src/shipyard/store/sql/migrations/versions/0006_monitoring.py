"""monitoring: reference profiles of model versions; columnar segments of the prediction log;
the error of a failed prediction call

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 23:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("profile_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
    op.create_table(
        "prediction_segments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("first_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("blob_hash", sa.String(length=64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction_segments")),
        sa.UniqueConstraint(
            "model",
            "first_ts_ms",
            "version",
            name=op.f("uq_prediction_segments_model_first_ts_ms_version"),
        ),
    )


def downgrade() -> None:
    op.drop_table("prediction_segments")
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_column("error")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_column("profile_hash")
