"""cache key parts per task

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cache_parts", sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f("ix_tasks_task_id_updated_at"), ["task_id", "updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_task_id_updated_at"))
        batch_op.drop_column("cache_parts")
