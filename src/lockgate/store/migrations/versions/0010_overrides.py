"""Break-glass overrides: a named gate bypassed for one environment, for a bounded time, with
who asked, why, and who approved.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "overrides",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("environment", sa.String(255), nullable=False, index=True),
        sa.Column("bypass", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("ttl", sa.Float, nullable=False),
        sa.Column("drill", sa.Boolean, nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("requested_at", sa.Float, nullable=False),
        sa.Column("needs_approval", sa.Boolean, nullable=False),
        sa.Column("approved_by", sa.String(255)),
        sa.Column("effective_at", sa.Float),
        sa.Column("expires_at", sa.Float),
        sa.Column("revoked_by", sa.String(255)),
        sa.Column("revoked_at", sa.Float),
    )


def downgrade() -> None:
    op.drop_table("overrides")
