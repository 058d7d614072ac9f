"""What every artifact store must do, checked on each: local files, S3 on moto's and on SeaweedFS's servers, and OSS
through a test double (tests/oss_gateway.py: an OSS-to-S3 translation layer in front of moto's server, not a real OSS).

Store-specific behaviour lives beside it: test_local_store.py (atomic writes, file:// URIs),
test_s3_store.py and test_oss_store.py (layout, resumed downloads, errors, credentials).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sluiceway.core import SluicewayError
from sluiceway.core.stores import ArtifactStore
from sluiceway.stores.local import LocalArtifactStore
from sluiceway.stores.oss import OssArtifactStore
from sluiceway.stores.s3 import S3ArtifactStore
from tests.oss_gateway import OssServer
from tests.s3_servers import S3Server, Scratch

MiB = 1 << 20
S3_STORES = ["s3-moto", "s3-seaweedfs"]
OBJECT_STORES = [*S3_STORES, "oss"]  # "oss": the OSS test double in front of moto's server


@dataclass
class StoreUnderTest:
    store: ArtifactStore
    uri: Callable[[str], str]
    """The URI of a name under this test's own root, written as the store expects (file:// URIs percent-encoded)."""
    place: Scratch | None = None
    reader: ArtifactStore | None = None
    """The same store with credentials that may read and list, not write (servers that check permissions)."""


# Small parts, so that a test file of a few MiB goes in parts: 5 MiB is S3's smallest part (the OSS test double's too).
SMALL_PARTS: dict[str, Any] = {"multipart_threshold_bytes": 5 * MiB, "multipart_chunk_bytes": 5 * MiB, "max_attempts": 2}


def s3_store(server: S3Server, **settings: object) -> S3ArtifactStore:
    return S3ArtifactStore(**{**SMALL_PARTS, **server.store_settings(), **settings})


def oss_store(server: OssServer, **settings: object) -> OssArtifactStore:
    return OssArtifactStore(**{**SMALL_PARTS, **server.store_settings(), **settings})


@pytest.fixture(params=["local", *OBJECT_STORES])
def under_test(request: pytest.FixtureRequest, tmp_path: Path) -> StoreUnderTest:
    if request.param == "local":
        return StoreUnderTest(LocalArtifactStore(), lambda name: (tmp_path / "store" / name).as_uri())
    if request.param == "oss":
        oss: OssServer = request.getfixturevalue("oss_test_double")
        oss.gateway.reset()
        place = Scratch(oss.s3, scheme="oss")  # objects in the S3 server behind the double, seen as oss:// URIs
        return StoreUnderTest(oss_store(oss), place.uri, place, reader=oss_store(oss, **oss.store_settings(oss.reader)))
    server: S3Server = request.getfixturevalue(request.param.removeprefix("s3-") + "_s3")
    place = Scratch(server)
    reader = s3_store(server, **server.store_settings(server.reader)) if server.reader else None
    return StoreUnderTest(s3_store(server), place.uri, place, reader=reader)


def each_request(store: ArtifactStore, uri: str, tmp_path: Path) -> list[Callable[[], object]]:
    """One request of each kind on `uri`: an upload (of a one-byte file), an exists, a download."""
    (tmp_path / "one-byte").write_bytes(b"1")
    return [lambda: store.upload(tmp_path / "one-byte", uri), lambda: store.exists(uri), lambda: store.download(uri, tmp_path / "x")]


BIG = 6 * MiB + 17  # above the tests' multipart threshold, and no whole number of parts


def upload_big_object(store: ArtifactStore, uri: str, tmp_path: Path) -> bytes:
    """Upload BIG bytes in which a shifted offset shows (a cycle of 251 bytes) to `uri`; return them."""
    content = bytes(range(251)) * (BIG // 251) + b"x" * (BIG % 251)
    (tmp_path / "big").write_bytes(content)
    store.upload(tmp_path / "big", uri)
    return content


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


def test_a_file_is_read_in_chunks_and_a_folder_or_nothing_is_refused_before_any(under_test: StoreUnderTest, tmp_path: Path):
    """read_chunks: what the server streams a download from (never a whole file in memory)."""
    store: Any = under_test.store
    content = bytes(range(256)) * 5000
    (tmp_path / "f").write_bytes(content)
    store.upload(tmp_path / "f", under_test.uri("file"))
    store.upload(make_tree(tmp_path / "d", {"inner.txt": b"2"}), under_test.uri("folder"))
    chunks = list(store.read_chunks(under_test.uri("file")))
    assert b"".join(chunks) == content and max(len(chunk) for chunk in chunks) <= 1 << 20
    with pytest.raises(IsADirectoryError):
        store.read_chunks(under_test.uri("folder"))
    with pytest.raises(FileNotFoundError):
        store.read_chunks(under_test.uri("missing"))


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


@pytest.mark.parametrize("under_test", OBJECT_STORES, indirect=True)  # the local store keeps no checksums
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


@pytest.mark.parametrize("under_test", OBJECT_STORES, indirect=True)
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


# Errors every object store words the same way, naming the bucket and the endpoint (the local store has neither).


@pytest.mark.parametrize("under_test", OBJECT_STORES, indirect=True)
def test_a_missing_bucket_is_named(under_test: StoreUnderTest, tmp_path: Path):
    store: Any = under_test.store
    uri = f"{store.scheme}://no-such-bucket-3141/x"
    (tmp_path / "f").write_bytes(b"1")
    where = rf"^bucket 'no-such-bucket-3141' does not exist at {store.endpoint}$"
    with pytest.raises(SluicewayError, match=where):
        store.upload(tmp_path / "f", uri)
    with pytest.raises(SluicewayError, match=where):
        store.download(uri, tmp_path / "x")
    with pytest.raises(SluicewayError, match=where):
        store.exists(uri)


@pytest.mark.parametrize("under_test", OBJECT_STORES, indirect=True)
def test_a_missing_object_is_named_with_its_bucket_and_endpoint(under_test: StoreUnderTest, tmp_path: Path):
    store: Any = under_test.store
    uri, bucket = under_test.uri("nothing"), under_test.place.bucket if under_test.place else ""
    assert not store.exists(uri)
    with pytest.raises(SluicewayError, match=rf"^no artifact at {uri} \(bucket '{bucket}' at {store.endpoint}\)$"):
        store.download(uri, tmp_path / "x")


def store_at(kind: str, endpoint: str, **settings: Any) -> Any:
    """An S3 or OSS store pointed at `endpoint`, whatever answers there, with credentials that never get far."""
    if kind == "s3":
        return S3ArtifactStore(endpoint_url=endpoint, access_key_id="a", secret_access_key="never-sent", **settings)
    return OssArtifactStore(endpoint=endpoint, region="cn-hangzhou", access_key_id="a", secret_access_key="never-sent", **settings)


@pytest.mark.parametrize(("kind", "service", "setting"), [("s3", "S3", "endpoint_url"), ("oss", "OSS", "the endpoint")])
def test_an_unreachable_endpoint_fails_fast(kind: str, service: str, setting: str):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"
    store = store_at(kind, endpoint, connect_timeout_seconds=1, max_attempts=2)
    started = time.monotonic()
    with pytest.raises(
        SluicewayError, match=rf"^cannot connect to the {service} endpoint {endpoint} \(bucket 'bucket'\): check {setting} and the network$"
    ):
        store.exists(f"{kind}://bucket/key")
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(("kind", "service"), [("s3", "S3"), ("oss", "OSS")])
def test_an_endpoint_that_never_answers_times_out(kind: str, service: str, tmp_path: Path):
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        store = store_at(kind, endpoint, read_timeout_seconds=0.5, max_attempts=2)
        started = time.monotonic()
        with pytest.raises(SluicewayError, match=rf"^the {service} endpoint {endpoint} did not answer within 0.5 s \(bucket 'bucket'\)$"):
            store.download(f"{kind}://bucket/key", tmp_path / "x")
        assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("store_class", "settings", "message"),
    [
        (S3ArtifactStore, {"access_key_id": "a"}, "give both access_key_id and secret_access_key, or neither"),
        (OssArtifactStore, {"secret_access_key": "a"}, "give both access_key_id and secret_access_key, or neither"),
        (S3ArtifactStore, {"addressing_style": "sideways"}, "addressing_style must be 'path', 'virtual' or 'auto'"),
        (OssArtifactStore, {"signature_version": "v2"}, "signature_version must be 'v4' or 'v1'"),
        (S3ArtifactStore, {"max_attempts": 0}, "max_attempts must be positive"),
        (OssArtifactStore, {"multipart_chunk_bytes": 0}, "multipart_chunk_bytes must be positive"),
    ],
)
def test_bad_settings_are_refused(store_class: type, settings: dict[str, Any], message: str):
    with pytest.raises(SluicewayError, match=message):
        store_class(**settings)


@pytest.mark.parametrize("store_class", [S3ArtifactStore, OssArtifactStore])
@pytest.mark.parametrize(
    ("uri", "message"), [("{}://bucket", "names no object"), ("{}://bucket/", "names no object"), ("file:///tmp/x", "is not an {}:// URI")]
)
def test_uris_that_name_no_object_are_refused(store_class: Any, uri: str, message: str):
    with pytest.raises(SluicewayError, match=message.format(store_class.scheme)):
        store_class().exists(uri.format(store_class.scheme))


@pytest.mark.parametrize("under_test", ["s3-seaweedfs", "oss"], indirect=True)  # the servers that know a read-only identity
def test_a_missing_permission_is_told_from_wrong_credentials(under_test: StoreUnderTest, tmp_path: Path):
    store, reader, place = under_test.store, under_test.reader, under_test.place
    assert reader is not None and place is not None
    (tmp_path / "f").write_bytes(b"1")
    store.upload(tmp_path / "f", under_test.uri("readable"))
    assert reader.exists(under_test.uri("readable"))
    reader.download(under_test.uri("readable"), tmp_path / "copy")
    with pytest.raises(
        SluicewayError,
        match=rf"^permission denied: the (S3|OSS) credentials may not write {under_test.uri('x')} \(bucket '{place.bucket}' at ",
    ):
        reader.upload(tmp_path / "f", under_test.uri("x"))
