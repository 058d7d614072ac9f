"""alembic environment: migrations run on the connection the store hands over."""

from __future__ import annotations

from alembic import context

from sluiceway.stores.sql.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Sluiceway migrations run through SqlMetadataStore or `sluiceway db`, which provide a connection")
# Batch mode lets SQLite alter tables too (it copies them), so one chain serves every database.
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
