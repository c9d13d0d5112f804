"""What working across machines needs: a queued run's lease (a server on another machine takes
over a run whose server stopped renewing it), a worker's address as the server sees its
connections, and the merge queue's pull requests of GitHub and Gitea repositories.

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
    with op.batch_alter_table("workers") as table:
        table.add_column(sa.Column("address", sa.String(64)))
    with op.batch_alter_table("queue") as table:
        table.add_column(sa.Column("lease_until", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("queue") as table:
        table.drop_column("lease_until")
    with op.batch_alter_table("workers") as table:
        table.drop_column("address")
    with op.batch_alter_table("merge_queue") as table:
        table.drop_column("pull")
