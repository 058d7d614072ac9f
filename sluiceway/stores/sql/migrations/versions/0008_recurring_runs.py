"""Recurring runs

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recurring_runs",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("pipeline_id", sa.String(length=255), nullable=False),
        sa.Column("pipeline_digest", sa.String(length=80), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("experiment", sa.String(length=255), nullable=True),
        sa.Column("cron", sa.String(length=255), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=True),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("max_concurrency", sa.Integer(), nullable=False),
        sa.Column("catch_up", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recurring_runs")),
        sa.UniqueConstraint("namespace", "name", name=op.f("uq_recurring_runs_namespace_name")),
    )
    op.create_index(op.f("ix_recurring_runs_namespace_created_at_id"), "recurring_runs", ["namespace", "created_at", "id"])
    op.create_index(op.f("ix_recurring_runs_enabled_next_fire_at"), "recurring_runs", ["enabled", "next_fire_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_recurring_runs_enabled_next_fire_at"), table_name="recurring_runs")
    op.drop_index(op.f("ix_recurring_runs_namespace_created_at_id"), table_name="recurring_runs")
    op.drop_table("recurring_runs")
