"""Metadata in SQL databases (SQLite for the embedded default; PostgreSQL and MySQL later)."""

from __future__ import annotations

from . import recurring  # noqa: F401  (registers the recurring_runs table on the models' metadata, for the migrations check)
from .store import SchemaVersionError, SqlMetadataStore

__all__ = ["SchemaVersionError", "SqlMetadataStore"]
