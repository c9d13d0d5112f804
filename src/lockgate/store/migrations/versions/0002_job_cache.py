"""Jobs remember their cache key and, for a cache hit, the run they were restored from.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("cache_key", sa.String(64)))
    op.add_column("jobs", sa.Column("cached_from", sa.Integer))


def downgrade() -> None:
    op.drop_column("jobs", "cached_from")
    op.drop_column("jobs", "cache_key")
