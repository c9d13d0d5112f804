"""Test results per test, quarantines, and incidents (for DORA).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "test_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "job_row", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("job_id", sa.String(255), nullable=False),
        sa.Column("tree", sa.String(64)),
        sa.Column("test", sa.Text, nullable=False),
        sa.Column("file", sa.Text),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("retries", sa.Integer, nullable=False),
        sa.Column("quarantined", sa.Boolean, nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_test_results_test", "test_results", ["test", "id"])
    op.create_index("ix_test_results_run", "test_results", ["run_id"])
    op.create_table(
        "quarantines",
        sa.Column("test", sa.Text, primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("until", sa.Float),
        sa.Column("by", sa.String(255), nullable=False),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("environment", sa.String(255), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("opened_at", sa.Float, nullable=False),
        sa.Column("resolved_at", sa.Float),
        sa.Column("deployment_id", sa.Integer),
    )


def downgrade() -> None:
    op.drop_table("incidents")
    op.drop_table("quarantines")
    op.drop_table("test_results")
