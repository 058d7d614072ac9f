"""runs.archived

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        # NOT NULL with a server default: the runs already recorded become not archived, on every database, in one statement.
        batch_op.add_column(sa.Column("archived", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(
            batch_op.f("ix_runs_namespace_archived_created_at_id"), ["namespace", "archived", "created_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_namespace_archived_created_at_id"))
        batch_op.drop_column("archived")
