"""What every artifact store must do, checked on each: local files, and S3 on moto's and on SeaweedFS's servers.

Store-specific behaviour lives beside it: test_local_store.py (atomic writes, file:// URIs) and
test_s3_store.py (layout, resumed downloads, errors, credentials).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from sluiceway.core import SluicewayError
from sluiceway.core.stores import ArtifactStore
from sluiceway.stores.local import LocalArtifactStore
from sluiceway.stores.s3 import S3ArtifactStore
from tests.s3_servers import S3Server, Scratch

MiB = 1 << 20
S3_STORES = ["s3-moto", "s3-seaweedfs"]


@dataclass
class StoreUnderTest:
    store: ArtifactStore
    uri: Callable[[str], str]
    """The URI of a name under this test's own root, written as the store expects (file:// URIs percent-encoded)."""
    place: Scratch | None = None


def s3_store(server: S3Server, **settings: object) -> S3ArtifactStore:
    """A store on `server` with a small multipart threshold, so that a test file of a few MiB goes in parts."""
    return S3ArtifactStore(
        **{"multipart_threshold_bytes": 5 * MiB, "multipart_chunk_bytes": 5 * MiB, "max_attempts": 2, **server.store_settings(), **settings}
    )


@pytest.fixture(params=["local", *S3_STORES])
def under_test(request: pytest.FixtureRequest, tmp_path: Path) -> StoreUnderTest:
    if request.param == "local":
        return StoreUnderTest(LocalArtifactStore(), lambda name: (tmp_path / "store" / name).as_uri())
    place = Scratch(request.getfixturevalue(request.param.removeprefix("s3-") + "_s3"))
    return StoreUnderTest(s3_store(place.server), place.uri, place)


def make_tree(root: Path, files: dict[str, bytes], empty_folders: tuple[str, ...] = ()) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    for name in empty_folders:
        (root / name).mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    return root


def tree(root: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and every folder (None) under `root`."""
    found: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        found[path.relative_to(root).as_posix()] = None if path.is_dir() else path.read_bytes()
    return found


def siblings(path: Path) -> list[str]:
    """What is in `path`'s folder: a download must leave nothing but its result there."""
    return sorted(entry.name for entry in path.parent.iterdir())


def test_it_is_an_artifact_store_for_its_scheme(under_test: StoreUnderTest):
    assert isinstance(under_test.store, ArtifactStore)
    assert under_test.uri("x").startswith(f"{under_test.store.scheme}://")


def test_a_file_round_trips(under_test: StoreUnderTest, tmp_path: Path):
    store, uri = under_test.store, under_test.uri("run-1/train/model")
    source = tmp_path / "model.bin"
    source.write_bytes(bytes(range(256)) * 4000)
    assert not store.exists(uri)
    store.upload(source, uri)
    assert store.exists(uri)
    store.download(uri, tmp_path / "out" / "copy.bin")
    assert (tmp_path / "out" / "copy.bin").read_bytes() == source.read_bytes()
    assert siblings(tmp_path / "out" / "copy.bin") == ["copy.bin"]


def test_an_empty_file_round_trips(under_test: StoreUnderTest, tmp_path: Path):
    store, uri = under_test.store, under_test.uri("empty")
    (tmp_path / "empty").write_bytes(b"")
    store.upload(tmp_path / "empty", uri)
    assert store.exists(uri)
    store.download(uri, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == b""


def test_a_folder_round_trips_with_nested_and_empty_folders(under_test: StoreUnderTest, tmp_path: Path):
    store, uri = under_test.store, under_test.uri("dataset")
    files = {"a.csv": b"1,2\n", "part/b.csv": b"3,4\n", "part/deeper/c.bin": os.urandom(1000), "empty.txt": b""}
    source = make_tree(tmp_path / "dataset", files, empty_folders=("part/nothing-here",))
    store.upload(source, uri)
    assert store.exists(uri)
    store.download(uri, tmp_path / "out" / "restored")
    assert tree(tmp_path / "out" / "restored") == tree(source)
    assert siblings(tmp_path / "out" / "restored") == ["restored"]


def test_an_empty_folder_round_trips(under_test: StoreUnderTest, tmp_path: Path):
    store, uri = under_test.store, under_test.uri("nothing")
    (tmp_path / "nothing").mkdir()
    store.upload(tmp_path / "nothing", uri)
    assert store.exists(uri)
    store.download(uri, tmp_path / "restored")
    assert (tmp_path / "restored").is_dir() and tree(tmp_path / "restored") == {}


def test_replacing_a_folder_removes_files_the_new_version_lacks(under_test: StoreUnderTest, tmp_path: Path):
    store, uri = under_test.store, under_test.uri("dataset")
    store.upload(make_tree(tmp_path / "v1", {"kept.csv": b"old", "gone.csv": b"x", "sub/gone-too.csv": b"y"}), uri)
    store.upload(make_tree(tmp_path / "v2", {"kept.csv": b"new", "added/new.csv": b"z"}), uri)
    store.download(uri, tmp_path / "restored")
    assert tree(tmp_path / "restored") == {"added": None, "added/new.csv": b"z", "kept.csv": b"new"}
    assert not store.exists(under_test.uri("dataset/gone.csv"))
    assert not store.exists(under_test.uri("dataset/sub/gone-too.csv"))


def test_a_file_replaces_a_folder_and_a_folder_a_file(under_test: StoreUnderTest, tmp_path: Path):
    store, uri = under_test.store, under_test.uri("model")
    (tmp_path / "model.bin").write_bytes(b"weights")
    folder = make_tree(tmp_path / "model-folder", {"weights.bin": b"w", "config/params.json": b"{}"})

    store.upload(folder, uri)
    store.upload(tmp_path / "model.bin", uri)
    store.download(uri, tmp_path / "as-file")
    assert (tmp_path / "as-file").read_bytes() == b"weights"
    assert not store.exists(under_test.uri("model/weights.bin"))

    store.upload(folder, uri)
    store.download(uri, tmp_path / "as-folder")
    assert tree(tmp_path / "as-folder") == tree(folder)


def test_a_download_replaces_whatever_is_at_the_destination(under_test: StoreUnderTest, tmp_path: Path):
    store = under_test.store
    (tmp_path / "file").write_bytes(b"new file")
    store.upload(tmp_path / "file", under_test.uri("a-file"))
    store.upload(make_tree(tmp_path / "folder", {"x.txt": b"new folder"}), under_test.uri("a-folder"))
    destination = tmp_path / "out" / "destination"

    make_tree(destination, {"old.txt": b"old"})
    store.download(under_test.uri("a-file"), destination)  # a folder was there
    assert destination.read_bytes() == b"new file"
    store.download(under_test.uri("a-folder"), destination)  # a file was there
    assert tree(destination) == {"x.txt": b"new folder"}
    store.download(under_test.uri("a-folder"), destination)  # the same folder
    assert tree(destination) == {"x.txt": b"new folder"}
    assert siblings(destination) == ["destination"]


def test_exists_tells_files_folders_and_nothing_apart_from_each_other(under_test: StoreUnderTest, tmp_path: Path):
    store = under_test.store
    (tmp_path / "f").write_bytes(b"1")
    store.upload(tmp_path / "f", under_test.uri("file"))
    store.upload(make_tree(tmp_path / "d", {"inner.txt": b"2"}), under_test.uri("folder"))
    assert store.exists(under_test.uri("file"))
    assert store.exists(under_test.uri("folder"))
    assert store.exists(under_test.uri("folder/inner.txt"))
    assert not store.exists(under_test.uri("missing"))
    assert not store.exists(under_test.uri("fil"))  # a prefix of a name is not the name


def test_downloading_a_missing_artifact_says_so_and_writes_nothing(under_test: StoreUnderTest, tmp_path: Path):
    uri = under_test.uri("never-written")
    with pytest.raises(SluicewayError, match=rf"^no artifact at {uri}"):
        under_test.store.download(uri, tmp_path / "out" / "x")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_a_file_larger_than_the_multipart_threshold_round_trips(under_test: StoreUnderTest, tmp_path: Path):
    store, uri = under_test.store, under_test.uri("big")
    content = os.urandom(11 * MiB + 123)  # three parts of 5 MiB (the S3 minimum), the last one short
    (tmp_path / "big").write_bytes(content)
    store.upload(tmp_path / "big", uri)
    store.download(uri, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == content
    if under_test.place is not None:  # really sent in parts: a multipart ETag ends in -PARTS
        etag = under_test.place.server.client().head_object(Bucket=under_test.place.bucket, Key=under_test.place.key("big"))["ETag"]
        assert etag.strip('"').endswith("-3")


def test_names_with_spaces_and_unicode_round_trip(under_test: StoreUnderTest, tmp_path: Path):
    store, uri = under_test.store, under_test.uri("über daten/naïve model (v1).bin")
    (tmp_path / "f").write_bytes("grüße".encode())
    store.upload(tmp_path / "f", uri)
    assert store.exists(uri)
    store.download(uri, tmp_path / "kopie datei.bin")
    assert (tmp_path / "kopie datei.bin").read_bytes() == "grüße".encode()

    folder = make_tree(tmp_path / "ordner", {"säule 1/été.csv": b"1", "日本語.txt": b"2"})
    store.upload(folder, under_test.uri("ordner mit leerzeichen"))
    store.download(under_test.uri("ordner mit leerzeichen"), tmp_path / "zurück")
    assert tree(tmp_path / "zurück") == tree(folder)


@pytest.mark.parametrize("under_test", S3_STORES, indirect=True)  # the local store keeps no checksums
def test_a_corrupted_file_is_detected_and_not_written(under_test: StoreUnderTest, tmp_path: Path):
    store, uri = under_test.store, under_test.uri("model")
    (tmp_path / "model").write_bytes(b"the real weights")
    store.upload(tmp_path / "model", uri)
    corrupt(under_test, "model", b"rotten weights!!")
    (tmp_path / "out").mkdir()
    with pytest.raises(
        SluicewayError, match=rf"^{uri} is corrupt: the downloaded copy has SHA-256 [0-9a-f]{{64}}, but [0-9a-f]{{64}} was recorded"
    ):
        store.download(uri, tmp_path / "out" / "model")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("under_test", S3_STORES, indirect=True)
def test_a_corrupted_file_in_a_folder_is_detected_and_the_old_folder_kept(under_test: StoreUnderTest, tmp_path: Path):
    store, uri = under_test.store, under_test.uri("dataset")
    store.upload(make_tree(tmp_path / "dataset", {"a.csv": b"1,2", "sub/b.csv": b"3,4"}), uri)
    corrupt(under_test, "dataset/sub/b.csv", b"9,9")
    destination = make_tree(tmp_path / "out" / "dataset", {"previous.csv": b"kept"})
    with pytest.raises(SluicewayError, match=rf"^{uri}/sub/b.csv is corrupt"):
        store.download(uri, destination)
    assert tree(destination) == {"previous.csv": b"kept"}


def corrupt(under_test: StoreUnderTest, name: str, content: bytes) -> None:
    """Change an object's bytes behind the store's back, keeping its metadata (the recorded SHA-256)."""
    place = under_test.place
    assert place is not None
    client = place.server.client()
    metadata = client.head_object(Bucket=place.bucket, Key=place.key(name))["Metadata"]
    client.put_object(Bucket=place.bucket, Key=place.key(name), Body=content, Metadata=metadata)
