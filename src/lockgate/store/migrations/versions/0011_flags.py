"""Feature flags: definitions (kept after archiving, as tombstones), their state in each
environment, and every change.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flags",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("archived_at", sa.Float),
        sa.Column("archived_by", sa.String(255)),
        sa.Column("archive_reason", sa.Text),
    )
    op.create_table(
        "flag_states",
        sa.Column("flag", sa.String(255), sa.ForeignKey("flags.name"), primary_key=True),
        sa.Column("environment", sa.String(255), primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("strategies", sa.JSON, nullable=False),
        sa.Column("variants", sa.JSON, nullable=False),
        sa.Column("changed_at", sa.Float, nullable=False),
    )
    op.create_table(
        "flag_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("flag", sa.String(255), nullable=False, index=True),
        sa.Column("environment", sa.String(255)),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
    )


def downgrade() -> None:
    op.drop_table("flag_changes")
    op.drop_table("flag_states")
    op.drop_table("flags")
