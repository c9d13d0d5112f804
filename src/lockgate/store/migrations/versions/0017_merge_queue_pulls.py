"""The merge queue takes pull requests of GitHub and Gitea repositories too: an entry says which.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("merge_queue") as table:
        table.add_column(sa.Column("pull", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("merge_queue") as table:
        table.drop_column("pull")
