"""Guarded flag rollouts (steps judged by analysis), the observations SDKs report for them,
their measurements, segments flags' strategies share, what a flags file last applied; and the
repositories a server runs.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flag_rollouts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("flag", sa.String(255), sa.ForeignKey("flags.name"), nullable=False),
        sa.Column("environment", sa.String(255), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("applied", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("started_by", sa.String(255), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("step_started_at", sa.Float),
        sa.Column("measured_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Index("ix_flag_rollouts_flag", "flag", "environment"),
    )
    op.create_table(
        "flag_observations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("flag", sa.String(255), nullable=False),
        sa.Column("environment", sa.String(255), nullable=False),
        sa.Column("side", sa.String(255), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("latency", sa.Float),
        sa.Column("failed", sa.Boolean, nullable=False),
        sa.Index("ix_flag_observations_at", "flag", "environment", "at"),
    )
    op.create_table(
        "flag_analyses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rollout_id", sa.Integer, nullable=False, index=True),
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
    op.create_table(
        "flag_segments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("constraints", sa.JSON, nullable=False),
        sa.Column("changed_at", sa.Float, nullable=False),
    )
    op.create_table(
        "flag_sync",
        sa.Column("source", sa.String(1024), primary_key=True),
        sa.Column("flag", sa.String(255), primary_key=True),
        sa.Column("environment", sa.String(255), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("revision", sa.String(255), nullable=False),
        sa.Column("applied_at", sa.Float, nullable=False),
    )
    op.create_table(
        "repositories",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("source", sa.String(1024), nullable=False, unique=True),
        sa.Column("forge", sa.String(16), nullable=False),
        sa.Column("full_name", sa.String(255)),
        sa.Column("has_secret", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("repositories")
    op.drop_table("flag_sync")
    op.drop_table("flag_segments")
    op.drop_table("flag_analyses")
    op.drop_table("flag_observations")
    op.drop_table("flag_rollouts")
