"""The reconciler's stored state: rollout progress, instance supervision, events.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as table:
        table.drop_column("pid")
        table.drop_column("host")
        table.add_column(sa.Column("step", sa.Integer, nullable=False, server_default="0"))
        table.add_column(sa.Column("step_started_at", sa.Float))
        table.add_column(sa.Column("weight", sa.Integer, nullable=False, server_default="0"))
        table.add_column(sa.Column("weight_at", sa.Float))
        table.add_column(sa.Column("measured_at", sa.Float))
        table.add_column(sa.Column("promote", sa.Boolean, nullable=False, server_default="0"))
        table.add_column(sa.Column("abort", sa.Text))
        table.add_column(sa.Column("failure", sa.Text))
        table.add_column(sa.Column("divergent", sa.JSON))
    with op.batch_alter_table("instances") as table:
        table.drop_column("pid")
        table.drop_column("release_dir")
        table.add_column(sa.Column("ref", sa.String(128)))
        table.add_column(sa.Column("launched_at", sa.Float, nullable=False, server_default="0"))
        table.add_column(sa.Column("ready", sa.Boolean, nullable=False, server_default="0"))
        table.add_column(sa.Column("ready_since", sa.Float))
        table.add_column(sa.Column("probed_at", sa.Float, nullable=False, server_default="0"))
        table.add_column(sa.Column("restarts", sa.Integer, nullable=False, server_default="0"))
        table.add_column(sa.Column("retry_at", sa.Float))
        table.add_column(sa.Column("stop_at", sa.Float))
        table.add_column(sa.Column("signaled_at", sa.Float))
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("environment", sa.String(255), nullable=False),
        sa.Column("deployment_id", sa.Integer),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_events_env", "events", ["environment", "id"])


def downgrade() -> None:
    op.drop_table("events")
    with op.batch_alter_table("instances") as table:
        for name in ("ref", "launched_at", "ready", "ready_since", "probed_at", "restarts",
                     "retry_at", "stop_at", "signaled_at"):  # fmt: skip
            table.drop_column(name)
        table.add_column(sa.Column("pid", sa.Integer))
        table.add_column(sa.Column("release_dir", sa.Text))
    with op.batch_alter_table("deployments") as table:
        for name in ("step", "step_started_at", "weight", "weight_at", "measured_at",
                     "promote", "abort", "failure", "divergent"):  # fmt: skip
            table.drop_column(name)
        table.add_column(sa.Column("pid", sa.Integer))
        table.add_column(sa.Column("host", sa.String(255)))
