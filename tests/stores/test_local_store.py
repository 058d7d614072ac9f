"""What only the local artifact store does: file:// URIs, and writes that a reader never sees half done.

What every artifact store does (round trips, replacing, exists, errors) is in test_artifact_stores.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sluiceway.core import SluicewayError
from sluiceway.stores.local import LocalArtifactStore


@pytest.fixture
def store() -> LocalArtifactStore:
    return LocalArtifactStore()


def test_a_replaced_folder_leaves_no_staging_behind(store, tmp_path: Path):
    folder = tmp_path / "dataset"
    (folder / "part").mkdir(parents=True)
    (folder / "part" / "a.csv").write_text("1,2\n")
    uri = (tmp_path / "store" / "dataset").as_uri()
    store.upload(folder, uri)
    store.upload(folder, uri)
    assert [p.name for p in (tmp_path / "store").iterdir()] == ["dataset"]


def test_a_file_is_kept_where_its_uri_says(store, tmp_path: Path):
    (tmp_path / "f").write_bytes(b"1")
    store.upload(tmp_path / "f", (tmp_path / "store" / "run 1" / "model").as_uri())  # percent-encoded in the URI
    assert (tmp_path / "store" / "run 1" / "model").read_bytes() == b"1"


def test_foreign_uris_are_errors(store, tmp_path: Path):
    with pytest.raises(SluicewayError, match="s3://bucket/key is not a local file:// URI"):
        store.exists("s3://bucket/key")
