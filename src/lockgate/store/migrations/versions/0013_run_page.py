"""What a run page shows of its commit (message and author), and the jobs a rerun is limited
to (its failed jobs, or one).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as runs:
        runs.add_column(sa.Column("commit_message", sa.Text))
        runs.add_column(sa.Column("commit_author", sa.Text))
    with op.batch_alter_table("queue") as queue:
        queue.add_column(sa.Column("jobs", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("queue") as queue:
        queue.drop_column("jobs")
    with op.batch_alter_table("runs") as runs:
        runs.drop_column("commit_author")
        runs.drop_column("commit_message")
