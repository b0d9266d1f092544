"""scheduler: events, scheduler_deployments, scheduler_firings

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_name_id", ["name", "id"], unique=False)
    op.create_table(
        "scheduler_deployments",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("flow_name", sa.String(length=256), nullable=False),
        sa.Column("path", sa.String(length=4096), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=False),
        sa.Column("schedule", sa.String(length=128), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("triggers", sa.Text(), nullable=False),
        sa.Column("event_cursor", sa.BigInteger(), nullable=False),
        sa.Column("deployed_by", sa.String(length=256), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduler_deployments")),
        sa.UniqueConstraint("name", name="uq_scheduler_deployments_name"),
    )
    op.create_table(
        "scheduler_firings",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("deployment", sa.String(length=256), nullable=False),
        sa.Column("firing_key", sa.String(length=600), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("due_ms", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.String(length=256), nullable=False),
        sa.Column("claimed_ms", sa.BigInteger(), nullable=False),
        sa.Column("lease_until_ms", sa.BigInteger(), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=True),
        sa.Column("finished_ms", sa.BigInteger(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("flow_run", sa.String(length=300), nullable=True),
        sa.Column("log_path", sa.String(length=4096), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduler_firings")),
        sa.UniqueConstraint("firing_key", name="uq_scheduler_firings_firing_key"),
    )
    with op.batch_alter_table("scheduler_firings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_scheduler_firings_deployment_id", ["deployment", "id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("scheduler_firings")
    op.drop_table("scheduler_deployments")
    op.drop_table("events")
