"""API tokens, kept hashed, and their roles in namespaces

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
    )
    op.create_table(
        "api_token_grants",
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["token_id"], ["api_tokens.id"], name=op.f("fk_api_token_grants_token_id_api_tokens"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_id", "namespace", name=op.f("pk_api_token_grants")),
    )


def downgrade() -> None:
    op.drop_table("api_token_grants")
    op.drop_table("api_tokens")
