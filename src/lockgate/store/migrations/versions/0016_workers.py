"""Runners on other machines: the workers that connect to the server, each job handed to one
(an assignment), which worker ran a job; and `concurrency:` groups, moved from files beside
the store into it, so runs on any machine share them.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("drain", sa.Boolean, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
    )
    op.create_table(
        "job_assignments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("job_row", sa.Integer, nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("queue", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("sealed_secrets", sa.LargeBinary),
        sa.Column("server_dir", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(255)),
        sa.Column("cancel", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("claimed_at", sa.Float),
        sa.Column("beat_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("message", sa.Text),
        sa.Column("artifacts", sa.JSON, nullable=False),
        sa.Index("ix_job_assignments_state", "state"),
        sa.Index("ix_job_assignments_job", "job_row"),
    )

    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("runner", sa.String(255)))
    op.create_table(
        "concurrency_groups",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("holder", sa.String(64)),
        sa.Column("holder_host", sa.String(255)),
        sa.Column("holder_pid", sa.Integer),
        sa.Column("holder_until", sa.Float),
        sa.Column("pending", sa.String(64)),
        sa.Column("cancel", sa.String(64)),
    )


def downgrade() -> None:
    op.drop_table("concurrency_groups")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("runner")
    op.drop_table("job_assignments")
    op.drop_table("workers")
