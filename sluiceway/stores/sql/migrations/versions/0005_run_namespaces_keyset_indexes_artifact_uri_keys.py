"""run namespaces and experiments, keyset indexes, artifact uri keys

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD_RUN_INDEXES = {"ix_runs_created_at_id": ["created_at", "id"], "ix_runs_pipeline_name_created_at": ["pipeline_name", "created_at"]}
OLD_RUN_INDEXES["ix_runs_state_created_at"] = ["state", "created_at"]
NEW_RUN_INDEXES = {
    "ix_runs_namespace_created_at_id": ["namespace", "created_at", "id"],
    "ix_runs_namespace_experiment_created_at_id": ["namespace", "experiment", "created_at", "id"],
    "ix_runs_namespace_pipeline_name_created_at_id": ["namespace", "pipeline_name", "created_at", "id"],
    "ix_runs_namespace_state_created_at_id": ["namespace", "state", "created_at", "id"],
}


def _mysql() -> bool:
    """MySQL and MariaDB never had the unique index on the full URI (see 0001)."""
    return op.get_context().dialect.name == "mysql"


def upgrade() -> None:
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uri_key", sa.String(length=64), nullable=True))
    artifacts = sa.table("artifacts", sa.column("id", sa.Integer), sa.column("uri", sa.String), sa.column("uri_key", sa.String))
    connection = op.get_bind()
    for row in connection.execute(sa.select(artifacts.c.id, artifacts.c.uri)).all():
        key = hashlib.sha256(row.uri.encode()).hexdigest()
        connection.execute(artifacts.update().where(artifacts.c.id == row.id).values(uri_key=key))
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.alter_column("uri_key", existing_type=sa.String(length=64), nullable=False)
        if not _mysql():
            batch_op.drop_constraint(batch_op.f("uq_artifacts_uri"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_artifacts_uri_key"), ["uri_key"])

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("namespace", sa.String(length=63), server_default="default", nullable=False))
        batch_op.add_column(sa.Column("experiment", sa.String(length=255), nullable=True))
        for name in OLD_RUN_INDEXES:
            batch_op.drop_index(batch_op.f(name))
        for name, columns in NEW_RUN_INDEXES.items():
            batch_op.create_index(batch_op.f(name), columns, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        for name in NEW_RUN_INDEXES:
            batch_op.drop_index(batch_op.f(name))
        for name, columns in OLD_RUN_INDEXES.items():
            batch_op.create_index(batch_op.f(name), columns, unique=False)
        batch_op.drop_column("experiment")
        batch_op.drop_column("namespace")

    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_artifacts_uri_key"), type_="unique")
        if not _mysql():
            batch_op.create_unique_constraint(batch_op.f("uq_artifacts_uri"), ["uri"])
        batch_op.drop_column("uri_key")
