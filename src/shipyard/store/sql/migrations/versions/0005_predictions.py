"""prediction log: predictions, prediction_labels; registry: gone_owners

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 15:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("shadow", sa.Boolean(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("features", sa.Text(), nullable=True),
        sa.Column("outputs", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
    )
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.create_index("ix_predictions_model_ts_ms", ["model", "ts_ms"], unique=False)
    op.create_table(
        "prediction_labels",
        sa.Column("prediction_id", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=26), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("labelled_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("prediction_id", name=op.f("pk_prediction_labels")),
    )
    with op.batch_alter_table("prediction_labels", schema=None) as batch_op:
        batch_op.create_index("ix_prediction_labels_call_id", ["call_id"], unique=False)
    op.create_table(
        "gone_owners",
        sa.Column("owner", sa.String(length=256), nullable=False),
        sa.Column("marked_by", sa.String(length=256), nullable=False),
        sa.Column("marked_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_gone_owners")),
    )


def downgrade() -> None:
    op.drop_table("gone_owners")
    op.drop_table("prediction_labels")
    op.drop_table("predictions")
