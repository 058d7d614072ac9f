"""Metadata in SQL databases (SQLite for the embedded default; PostgreSQL and MySQL later)."""

from __future__ import annotations

from .store import SchemaVersionError, SqlMetadataStore

__all__ = ["SchemaVersionError", "SqlMetadataStore"]
