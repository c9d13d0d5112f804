"""Canary analyses: samples, statistics and verdicts.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analyses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("deployment_id", sa.Integer, nullable=False),
        sa.Column("step", sa.Text, nullable=False),
        sa.Column("measurement", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("samples", sa.JSON, nullable=False),
    )
    op.create_index("ix_analyses_deployment", "analyses", ["deployment_id"])


def downgrade() -> None:
    op.drop_table("analyses")
