"""Deployments and the instances they run.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("app", sa.String(255), nullable=False),
        sa.Column("environment", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("previous_digest", sa.String(64)),
        sa.Column("source_commit", sa.String(80)),
        sa.Column("strategy", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("phase", sa.Text),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("triggered_by", sa.String(255), nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("report", sa.JSON),
        sa.Column("pid", sa.Integer),
        sa.Column("host", sa.String(255)),
        sa.Column("kind", sa.String(16), nullable=False),
    )
    op.create_index("ix_deployments_env", "deployments", ["environment"])
    op.create_table(
        "instances",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("environment", sa.String(255), nullable=False),
        sa.Column("slot", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64)),
        sa.Column("pid", sa.Integer),
        sa.Column("release_dir", sa.Text),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("pool", sa.String(32), nullable=False),
        sa.Column("deployment_id", sa.Integer),
        sa.Column("reason", sa.Text),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_instances_env", "instances", ["environment", "state"])


def downgrade() -> None:
    op.drop_table("instances")
    op.drop_table("deployments")
