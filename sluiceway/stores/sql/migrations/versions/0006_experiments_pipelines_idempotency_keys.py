"""experiments, pipelines and their versions, run idempotency keys

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
        sa.UniqueConstraint("namespace", "name", name=op.f("uq_pipelines_namespace_name")),
    )
    op.create_index(op.f("ix_pipelines_namespace_created_at_id"), "pipelines", ["namespace", "created_at", "id"], unique=False)
    op.create_table(
        "pipeline_version_links",
        sa.Column("pipeline_id", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipelines.id"], name=op.f("fk_pipeline_version_links_pipeline_id_pipelines"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["digest"], ["pipeline_versions.digest"], name=op.f("fk_pipeline_version_links_digest_pipeline_versions")),
        sa.PrimaryKeyConstraint("pipeline_id", "digest", name=op.f("pk_pipeline_version_links")),
    )
    op.create_index(
        op.f("ix_pipeline_version_links_pipeline_id_created_at_digest"),
        "pipeline_version_links",
        ["pipeline_id", "created_at", "digest"],
        unique=False,
    )
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
        sa.UniqueConstraint("namespace", "name", name=op.f("uq_experiments_namespace_name")),
    )
    op.create_index(op.f("ix_experiments_namespace_created_at_id"), "experiments", ["namespace", "created_at", "id"], unique=False)
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_runs_namespace_idempotency_key"), ["namespace", "idempotency_key"])


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_runs_namespace_idempotency_key"), type_="unique")
        batch_op.drop_column("idempotency_key")
    op.drop_index(op.f("ix_experiments_namespace_created_at_id"), table_name="experiments")
    op.drop_table("experiments")
    op.drop_index(op.f("ix_pipeline_version_links_pipeline_id_created_at_digest"), table_name="pipeline_version_links")
    op.drop_table("pipeline_version_links")
    op.drop_index(op.f("ix_pipelines_namespace_created_at_id"), table_name="pipelines")
    op.drop_table("pipelines")
