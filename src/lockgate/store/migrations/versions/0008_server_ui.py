"""What the server's pages and schedules need: a run's trigger, a job's needs, a queued run's
cancel request, interrupted choice and single workflow, and the schedules of repositories.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("trigger_id", sa.Integer))
        batch.create_index("ix_runs_trigger", ["trigger_id"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("needs", sa.JSON))
    with op.batch_alter_table("queue") as batch:
        batch.add_column(sa.Column("cancel", sa.Boolean, nullable=False, server_default="0"))
        batch.add_column(sa.Column("on_interrupt", sa.JSON))
        batch.add_column(sa.Column("workflow", sa.Text))
    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("repository", sa.Text, nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("workflow_file", sa.Text, nullable=False),
        sa.Column("cron", sa.String(255), nullable=False),
        sa.Column("next_at", sa.Float, nullable=False),
        sa.UniqueConstraint("repository", "workflow_file", "cron", name="uq_schedule"),
    )


def downgrade() -> None:
    op.drop_table("schedules")
    with op.batch_alter_table("queue") as batch:
        batch.drop_column("workflow")
        batch.drop_column("on_interrupt")
        batch.drop_column("cancel")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("needs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_trigger")
        batch.drop_column("trigger_id")
