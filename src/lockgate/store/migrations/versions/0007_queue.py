"""The server's durable queue of runs to take, its API tokens (hashed) and its audit trail.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("delivery", sa.String(255), nullable=False, unique=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("repository", sa.Text, nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("before", sa.String(64)),
        sa.Column("after", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("worker", sa.String(255)),
        sa.Column("exit_code", sa.Integer),
        sa.Column("message", sa.Text),
    )
    op.create_index("ix_queue_status", "queue", ["status", "id"])
    op.create_table(
        "api_tokens",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit")
    op.drop_table("api_tokens")
    op.drop_table("queue")
