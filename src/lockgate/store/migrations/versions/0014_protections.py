"""Protected environments (the rules jobs naming them obey), the reviews their held jobs wait
for, what a queued run goes on with (the run it continues, what it was cleared for, when it
may start), and the URL an environment job gives.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "protections",
        sa.Column("environment", sa.String(255), primary_key=True),
        sa.Column("reviewers", sa.JSON, nullable=False),
        sa.Column("wait_seconds", sa.Integer, nullable=False),
        sa.Column("branches", sa.JSON, nullable=False),
        sa.Column("vars", sa.JSON, nullable=False),
        sa.Column("has_secrets", sa.Boolean, nullable=False),
        sa.Column("changed_by", sa.String(255), nullable=False),
        sa.Column("changed_at", sa.Float, nullable=False),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("environment", sa.String(255), nullable=False),
        sa.Column("jobs", sa.JSON, nullable=False),
        sa.Column("reviewers", sa.JSON, nullable=False),
        sa.Column("wait_seconds", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_at", sa.Float, nullable=False),
        sa.Column("decided_by", sa.String(255)),
        sa.Column("decided_at", sa.Float),
        sa.Column("comment", sa.Text),
        sa.Column("continued_as", sa.Integer),
        sa.Index("ix_reviews_run", "run_id"),
    )
    with op.batch_alter_table("queue") as queue:
        queue.add_column(sa.Column("continues", sa.Integer))
        queue.add_column(sa.Column("clearances", sa.JSON))
        queue.add_column(sa.Column("not_before", sa.Float))
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("environment_url", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("environment_url")
    with op.batch_alter_table("queue") as queue:
        queue.drop_column("not_before")
        queue.drop_column("clearances")
        queue.drop_column("continues")
    op.drop_table("reviews")
    op.drop_table("protections")
