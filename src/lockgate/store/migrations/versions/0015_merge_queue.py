"""The merge queue: changes waiting to reach a protected branch, each tested as merged onto
the branch plus the changes ahead of it.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "merge_queue",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("repository", sa.Text, nullable=False),
        sa.Column("branch", sa.String(255), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("head", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("base", sa.String(64)),
        sa.Column("candidate", sa.String(64)),
        sa.Column("queued_run", sa.Integer),
        sa.Column("reason", sa.Text),
        sa.Column("added_by", sa.String(255), nullable=False),
        sa.Column("added_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Index("ix_merge_queue_lane", "repository", "target", "state"),
    )


def downgrade() -> None:
    op.drop_table("merge_queue")
