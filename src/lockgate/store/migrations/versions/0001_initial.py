"""Runs, jobs, steps, log lines, annotations and artifacts.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def _job_row() -> sa.Column[int]:
    return sa.Column(
        "job_row", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "runs",
        _id(),
        sa.Column("workflow", sa.String(255), nullable=False),
        sa.Column("workflow_file", sa.Text, nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("sha", sa.String(64), nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("branch", sa.Text, nullable=False),
        sa.Column("dirty", sa.Boolean, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("repo_dir", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("conclusion", sa.String(16)),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("pid", sa.Integer),
        sa.Column("host", sa.String(255)),
    )
    op.create_table(
        "jobs",
        _id(),
        sa.Column(
            "run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("job_id", sa.String(255), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("matrix", sa.JSON),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("conclusion", sa.String(16)),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("outputs", sa.JSON),
        sa.Column("environment", sa.Text),
        sa.Column("message", sa.Text),
        sa.Column("summary", sa.Text),
    )
    op.create_index("ix_jobs_run", "jobs", ["run_id"])
    op.create_table(
        "steps",
        _id(),
        _job_row(),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16)),
        sa.Column("conclusion", sa.String(16)),
        sa.Column("exit_code", sa.Integer),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("outputs", sa.JSON),
    )
    op.create_index("ix_steps_job", "steps", ["job_row"])
    op.create_table(
        "log_lines",
        _id(),
        _job_row(),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("line", sa.Text, nullable=False),
    )
    op.create_index("ix_log_job", "log_lines", ["job_row"])
    op.create_table(
        "annotations",
        _id(),
        _job_row(),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("file", sa.Text),
        sa.Column("line", sa.Integer),
        sa.Column("col", sa.Integer),
        sa.Column("title", sa.Text),
    )
    op.create_table(
        "artifacts",
        _id(),
        sa.Column(
            "run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("artifacts", "annotations", "log_lines", "steps", "jobs", "runs"):
        op.drop_table(table)
