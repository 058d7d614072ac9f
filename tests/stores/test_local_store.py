"""The local artifact store keeps files and folders under file:// URIs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluiceway.core import SluicewayError
from sluiceway.core.stores import ArtifactStore
from sluiceway.stores.local import LocalArtifactStore


@pytest.fixture
def store() -> LocalArtifactStore:
    return LocalArtifactStore()


def test_it_is_an_artifact_store(store):
    assert isinstance(store, ArtifactStore) and store.scheme == "file"


def test_a_file_round_trips(store, tmp_path: Path):
    source = tmp_path / "model.bin"
    source.write_bytes(b"\x00weights" * 1000)
    uri = (tmp_path / "store" / "run-1" / "train" / "model").as_uri()
    assert not store.exists(uri)
    store.upload(source, uri)
    assert store.exists(uri)
    store.download(uri, tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == source.read_bytes()


def test_a_folder_round_trips_and_replaces_what_was_there(store, tmp_path: Path):
    folder = tmp_path / "dataset"
    (folder / "part").mkdir(parents=True)
    (folder / "part" / "a.csv").write_text("1,2\n")
    uri = (tmp_path / "store" / "dataset").as_uri()
    store.upload(folder, uri)
    (folder / "part" / "a.csv").write_text("3,4\n")
    store.upload(folder, uri)
    store.download(uri, tmp_path / "restored")
    assert (tmp_path / "restored" / "part" / "a.csv").read_text() == "3,4\n"
    assert [p.name for p in (tmp_path / "store").iterdir()] == ["dataset"]  # no staging left behind


def test_missing_artifacts_and_foreign_uris_are_errors(store, tmp_path: Path):
    with pytest.raises(SluicewayError, match="no artifact at file://"):
        store.download((tmp_path / "absent").as_uri(), tmp_path / "x")
    with pytest.raises(SluicewayError, match="s3://bucket/key is not a local file:// URI"):
        store.exists("s3://bucket/key")
