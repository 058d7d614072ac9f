"""The store tests run on every metadata database: SQLite in a temporary folder, PostgreSQL and MariaDB (tests/databases.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import SERVER_URLS, scratch_database

DATABASES = ("sqlite", *SERVER_URLS)


@pytest.fixture(params=DATABASES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of each kind, removed after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'metadata.db'}"
        return
    with scratch_database(request.param) as database_url:
        yield database_url
