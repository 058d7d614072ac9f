"""The server's tests: the HTTP API on SQLite through FastAPI's TestClient (one server per test, its home in a temporary
folder), and the records it keeps on every metadata database (the `url` fixture of tests/stores)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stores.conftest import url  # noqa: F401  (the fixture: an empty database of each kind)

pytest.importorskip("fastapi", reason="the server needs the `server` extra")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The embedded default's home for one test, with the server's auth explicitly off: these tests are about the API
    itself; test_auth.py turns it on."""
    folder = tmp_path / "home"
    monkeypatch.setenv("SLUICEWAY_HOME", str(folder))
    monkeypatch.delenv("SLUICEWAY_CONFIG", raising=False)
    monkeypatch.setenv("SLUICEWAY_SERVER__AUTH__ENABLED", "false")
    return folder


@pytest.fixture
def client(home: Path) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from sluiceway import config
    from sluiceway.server import create_app

    with TestClient(create_app(config.load()), raise_server_exceptions=False) as test_client:
        yield test_client
