"""flows: flow_runs and tasks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:33:09.836849
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flow_runs",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("flow_name", sa.String(length=256), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("origin_run_id", sa.String(length=32), nullable=True),
        sa.Column("graph", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_flow_runs_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_flow_runs")),
        sa.UniqueConstraint("flow_name", "number", name="uq_flow_runs_flow_name_number"),
    )
    op.create_table(
        "tasks",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("flow_run_id", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=256), nullable=False),
        sa.Column("foreach_path", sa.String(length=512), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("input_ids", sa.Text(), nullable=False),
        sa.Column("stdout_hash", sa.String(length=64), nullable=True),
        sa.Column("stderr_hash", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["flow_run_id"], ["runs.id"], name=op.f("fk_tasks_flow_run_id_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_tasks_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_tasks")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_flow_run_step", ["flow_run_id", "step"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_flow_run_step")

    op.drop_table("tasks")
    op.drop_table("flow_runs")
