"""GitOps: the config commit (and its author) a deployment came from, each environment's sync
state, and each watched source's last fetch. And a queued run's plan, once its commit is
fetched.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queue") as batch:
        batch.add_column(sa.Column("plan", sa.JSON))
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("config_commit", sa.String(64)))
        batch.add_column(sa.Column("config_author", sa.String(255)))
    op.create_table(
        "gitops_sources",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("commit", sa.String(64)),
        sa.Column("author", sa.String(255)),
        sa.Column("fetched_at", sa.Float),
        sa.Column("checked_at", sa.Float, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("invalid", sa.Text),
    )
    op.create_table(
        "gitops_environments",
        sa.Column("environment", sa.String(255), primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("commit", sa.String(64), nullable=False),
        sa.Column("applied_commit", sa.String(64)),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("sync", sa.String(32), nullable=False),
        sa.Column("health", sa.String(32)),
        sa.Column("message", sa.Text),
        sa.Column("differences", sa.JSON),
        sa.Column("in_git", sa.Boolean, nullable=False, server_default="1"),
        sa.Column("failed_commit", sa.String(64)),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("retry_at", sa.Float),
        sa.Column("checked_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gitops_environments")
    op.drop_table("gitops_sources")
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("config_author")
        batch.drop_column("config_commit")
    with op.batch_alter_table("queue") as batch:
        batch.drop_column("plan")
