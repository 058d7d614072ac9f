"""What only the S3 store does: its layout, resumed downloads, errors that say what is wrong, credentials kept secret.

Runs against real servers (tests/s3_servers.py); what every store does is in test_artifact_stores.py.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ResponseStreamingError

from sluiceway.core import SluicewayError
from sluiceway.stores.s3 import FOLDER_MANIFEST, S3ArtifactStore
from tests.conftest import REPO
from tests.s3_servers import S3Server, Scratch
from tests.stores.test_artifact_stores import BIG, MiB, each_request, make_tree, s3_store, tree, upload_big_object

SECRET = "S3CR3T-must-never-be-printed-7f3a"
TOKEN = "T0KEN-must-never-be-printed-91c2"


@pytest.fixture
def place(s3_server: S3Server) -> Scratch:
    return Scratch(s3_server)


# Layout.


def test_a_folder_is_its_files_and_a_manifest_and_every_object_carries_its_sha256(s3_server: S3Server, place: Scratch, tmp_path: Path):
    store = s3_store(s3_server)
    store.upload(make_tree(tmp_path / "d", {"a.txt": b"a", "sub/b.txt": b"b"}, empty_folders=("void",)), place.uri("ds"))
    assert place.keys() == [f"ds/{FOLDER_MANIFEST}", "ds/a.txt", "ds/sub/b.txt"]
    client = s3_server.client()
    manifest = json.loads(client.get_object(Bucket=place.bucket, Key=place.key(f"ds/{FOLDER_MANIFEST}"))["Body"].read())
    sha_of_a = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
    assert manifest == {
        "sluiceway_folder": 1,
        "files": {"a.txt": {"size": 1, "sha256": sha_of_a}, "sub/b.txt": manifest["files"]["sub/b.txt"]},
        "folders": ["void"],
    }
    head = client.head_object(Bucket=place.bucket, Key=place.key("ds/a.txt"), ChecksumMode="ENABLED")
    assert head["Metadata"] == {"sha256": sha_of_a}
    assert head["ChecksumCRC32"]  # the server was given, and checked, a CRC32 checksum


def test_without_upload_checksums_nothing_asks_the_server_to_check_one(s3_server: S3Server, place: Scratch, tmp_path: Path):
    """For servers that refuse x-amz-checksum headers; downloads are still checked against the recorded SHA-256."""
    store = s3_store(s3_server, upload_checksums=False)
    content = b"p" * (6 * MiB)
    store.upload(make_tree(tmp_path / "d", {"big.bin": content, "small.txt": b"s"}), place.uri("ds"))
    head = s3_server.client().head_object(Bucket=place.bucket, Key=place.key("ds/big.bin"), ChecksumMode="ENABLED")
    assert "ChecksumCRC32" not in head and head["ETag"].strip('"').endswith("-2")
    store.download(place.uri("ds"), tmp_path / "copy")
    assert tree(tmp_path / "copy") == {"big.bin": content, "small.txt": b"s"}


def test_replacing_removes_the_objects_of_the_old_version(s3_server: S3Server, place: Scratch, tmp_path: Path):
    store, uri = s3_store(s3_server), place.uri("ds")
    store.upload(make_tree(tmp_path / "v1", {"a": b"1", "b/c": b"2"}), uri)
    store.upload(make_tree(tmp_path / "v2", {"a": b"3"}), uri)
    assert place.keys() == [f"ds/{FOLDER_MANIFEST}", "ds/a"]
    (tmp_path / "file").write_bytes(b"4")
    store.upload(tmp_path / "file", uri)
    assert place.keys() == ["ds"]


def test_the_manifest_name_is_kept_for_the_store(s3_server: S3Server, place: Scratch, tmp_path: Path):
    folder = make_tree(tmp_path / "d", {FOLDER_MANIFEST: b"{}"})
    with pytest.raises(SluicewayError, match=f"has a file named {FOLDER_MANIFEST}, a name the S3 store keeps"):
        s3_store(s3_server).upload(folder, place.uri("ds"))


def test_a_prefix_written_by_another_tool_is_read_as_a_folder(s3_server: S3Server, place: Scratch, tmp_path: Path):
    client = s3_server.client()
    client.put_object(Bucket=place.bucket, Key=place.key("export/part-0.csv"), Body=b"1")
    client.put_object(Bucket=place.bucket, Key=place.key("export/nested/part-1.csv"), Body=b"2")
    store = s3_store(s3_server)
    assert store.exists(place.uri("export"))
    store.download(place.uri("export"), tmp_path / "export")
    assert tree(tmp_path / "export") == {"nested": None, "nested/part-1.csv": b"2", "part-0.csv": b"1"}


def test_a_manifest_naming_files_outside_the_folder_is_refused(s3_server: S3Server, place: Scratch, tmp_path: Path):
    manifest = {"sluiceway_folder": 1, "files": {"../../escape.txt": {"size": 1, "sha256": "0" * 64}}, "folders": []}
    s3_server.client().put_object(Bucket=place.bucket, Key=place.key(f"ds/{FOLDER_MANIFEST}"), Body=json.dumps(manifest).encode())
    with pytest.raises(SluicewayError, match=r"lists the unsafe file name '\.\./\.\./escape\.txt'"):
        s3_store(s3_server).download(place.uri("ds"), tmp_path / "out" / "ds")
    assert not (tmp_path / "escape.txt").exists()


# Resumed downloads.


class WatchedBody:
    """A response body that says when it is let go of, and whose connection drops after `after` bytes with `error`."""

    def __init__(self, body: Any, released: Any, after: int | None = None, error: BaseException | None = None) -> None:
        self.body, self.released, self.left, self.error = body, released, after, error

    def iter_chunks(self, chunk_size: int) -> Iterator[bytes]:
        for chunk in self.body.iter_chunks(min(chunk_size, 256 * 1024)):
            if self.left is not None and self.error is not None and len(chunk) >= self.left:
                yield chunk[: self.left]
                raise self.error
            if self.left is not None:
                self.left -= len(chunk)
            yield chunk
        self.released()

    def close(self) -> None:
        self.body.close()
        self.released()


class GetObjectWatcher:
    """Records each GET of an object of 1 MiB or more (range, bytes sent) and how many were open at once; breaks the
    connection of those in `breaks`."""

    def __init__(self, store: S3ArtifactStore, breaks: dict[int, tuple[int, BaseException]] | None = None) -> None:
        self.answers: list[tuple[str | None, int]] = []
        self.breaks = breaks or {}  # the GET's number, from 0: (bytes to let through, error)
        self.open: set[int] = set()
        self.most_at_once = 0
        self._lock = threading.Lock()
        store.client.meta.events.register("after-call.s3.GetObject", self._after_get)

    def _after_get(self, parsed: dict[str, Any], **_: Any) -> None:
        if parsed.get("ContentLength", 0) < MiB:  # manifests
            return
        with self._lock:
            number = len(self.answers)
            self.answers.append((parsed.get("ContentRange"), parsed["ContentLength"]))
            self.open.add(number)
            self.most_at_once = max(self.most_at_once, len(self.open))
        after, error = self.breaks.get(number, (None, None))
        parsed["Body"] = WatchedBody(parsed["Body"], lambda: self._release(number), after, error)

    def _release(self, number: int) -> None:
        with self._lock:
            self.open.discard(number)

    @property
    def bytes_sent(self) -> int:
        return sum(length for _, length in self.answers)


class ProcessKilled(BaseException):
    """Stands for the process dying mid-download: nothing in the store may catch it."""


SIZE = BIG


@pytest.fixture
def big_object(s3_server: S3Server, place: Scratch, tmp_path: Path) -> tuple[str, bytes]:
    return place.uri("big"), upload_big_object(s3_store(s3_server), place.uri("big"), tmp_path)


def test_a_download_that_breaks_off_continues_from_where_it_stopped(s3_server: S3Server, big_object: tuple[str, bytes], tmp_path: Path):
    uri, content = big_object
    store = s3_store(s3_server)
    watcher = GetObjectWatcher(store, breaks={0: (2 * MiB, ResponseStreamingError(error="connection reset by peer"))})
    store.download(uri, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == content
    assert watcher.answers == [
        (None, SIZE),  # the first 5 MiB were to come from here, and 2 MiB did
        (f"bytes {5 * MiB}-{SIZE - 1}/{SIZE}", SIZE - 5 * MiB),  # the next range, read meanwhile, then let go
        (f"bytes {2 * MiB}-{SIZE - 1}/{SIZE}", SIZE - 2 * MiB),  # the rest, in one GET: it is below the threshold
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big", "copy"]


LARGE = 11 * MiB + 123  # three ranges of the tests' 5 MiB


@pytest.fixture
def large_object(s3_server: S3Server, place: Scratch, tmp_path: Path) -> tuple[str, bytes]:
    content = os.urandom(LARGE)
    (tmp_path / "large").write_bytes(content)
    s3_store(s3_server).upload(tmp_path / "large", place.uri("large"))
    return place.uri("large"), content


@pytest.mark.parametrize("connections", [1, 2, 10])
def test_a_large_object_comes_in_ranges_at_most_max_concurrency_at_once(
    s3_server: S3Server, large_object: tuple[str, bytes], tmp_path: Path, connections: int
):
    uri, content = large_object
    store = s3_store(s3_server, max_concurrency=connections)
    watcher = GetObjectWatcher(store)
    store.download(uri, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == content
    first, *ranges = watcher.answers
    assert first == (None, LARGE)  # read up to 5 MiB, then let go
    assert sorted(ranges) == [
        (f"bytes {10 * MiB}-{LARGE - 1}/{LARGE}", LARGE - 10 * MiB),
        (f"bytes {5 * MiB}-{10 * MiB - 1}/{LARGE}", 5 * MiB),
    ]
    assert watcher.most_at_once <= connections


def test_a_range_that_breaks_off_is_continued_from_the_last_byte_written(
    s3_server: S3Server, large_object: tuple[str, bytes], tmp_path: Path
):
    uri, content = large_object
    store = s3_store(s3_server, max_concurrency=2)
    watcher = GetObjectWatcher(store, breaks={1: (2 * MiB, ResponseStreamingError(error="connection reset by peer"))})
    store.download(uri, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == content
    first, broken, *after = watcher.answers
    assert first == (None, LARGE)
    assert broken == (f"bytes {5 * MiB}-{10 * MiB - 1}/{LARGE}", 5 * MiB)  # broke off after 2 MiB: 7 MiB are written
    continued = (f"bytes {7 * MiB}-{LARGE - 1}/{LARGE}", LARGE - 7 * MiB)
    assert after[-1] == continued  # from the last byte written, once
    # The range after the broken one may have been asked for already (then let go), depending on timing.
    assert after[:-1] in ([], [(f"bytes {10 * MiB}-{LARGE - 1}/{LARGE}", LARGE - 10 * MiB)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy", "large"]


def test_a_download_cut_short_by_the_process_dying_is_resumed_by_the_next_one(
    s3_server: S3Server, big_object: tuple[str, bytes], tmp_path: Path
):
    uri, content = big_object
    first = s3_store(s3_server)
    GetObjectWatcher(first, breaks={0: (4 * MiB, ProcessKilled())})
    with pytest.raises(ProcessKilled):
        first.download(uri, tmp_path / "copy")
    assert not (tmp_path / "copy").exists()
    assert (tmp_path / ".copy.sluiceway-partial").stat().st_size == 4 * MiB

    second = s3_store(s3_server)  # as in a new process
    watcher = GetObjectWatcher(second)
    second.download(uri, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == content
    assert watcher.answers == [(f"bytes {4 * MiB}-{SIZE - 1}/{SIZE}", SIZE - 4 * MiB)]
    assert watcher.bytes_sent < SIZE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big", "copy"]


def test_a_partial_download_of_an_object_since_replaced_starts_over(s3_server: S3Server, big_object: tuple[str, bytes], tmp_path: Path):
    uri, _ = big_object
    first = s3_store(s3_server)
    GetObjectWatcher(first, breaks={0: (3 * MiB, ProcessKilled())})
    with pytest.raises(ProcessKilled):
        first.download(uri, tmp_path / "copy")
    replacement = b"new" * (MiB // 2)
    (tmp_path / "new").write_bytes(replacement)
    first.upload(tmp_path / "new", uri)

    second = s3_store(s3_server)
    watcher = GetObjectWatcher(second)
    second.download(uri, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == replacement
    assert watcher.answers == [(None, len(replacement))]  # If-Match failed on the ranged GET; then the whole object


def test_a_folder_download_cut_short_keeps_the_files_it_got(s3_server: S3Server, place: Scratch, tmp_path: Path):
    files = {"1.bin": b"1" * (2 * MiB), "2.bin": b"2" * (2 * MiB), "3.bin": b"3" * (2 * MiB)}
    uri = place.uri("ds")
    s3_store(s3_server).upload(make_tree(tmp_path / "ds", files), uri)
    first = s3_store(s3_server, max_concurrency=1)  # one file after the other, in name order
    GetObjectWatcher(first, breaks={2: (MiB, ProcessKilled())})  # dies half-way through the third file
    with pytest.raises(ProcessKilled):
        first.download(uri, tmp_path / "out")

    second = s3_store(s3_server)
    watcher = GetObjectWatcher(second)
    second.download(uri, tmp_path / "out")
    assert tree(tmp_path / "out") == files
    assert watcher.answers == [(f"bytes {MiB}-{2 * MiB - 1}/{2 * MiB}", MiB)]  # only the rest of the third file


# Errors.


def test_wrong_credentials_are_rejected_and_never_printed(seaweedfs_s3: S3Server, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    place = Scratch(seaweedfs_s3)
    store = s3_store(seaweedfs_s3, secret_access_key=SECRET, session_token=TOKEN)
    (tmp_path / "f").write_bytes(b"1")
    rejected = rf"^{seaweedfs_s3.endpoint_url} rejected the S3 credentials \(\w+\) for bucket '{place.bucket}': check the access key id, the secret and any session token$"
    for attempt in each_request(store, place.uri("x"), tmp_path):
        with pytest.raises(SluicewayError, match=rejected) as caught:
            attempt()
        assert SECRET not in str(caught.value) and TOKEN not in str(caught.value)
    assert "x-amz-security-token" in caplog.text.lower()  # botocore did log its requests...
    assert SECRET not in caplog.text and TOKEN not in caplog.text  # ...without the credentials
    assert SECRET not in repr(store)


def test_credentials_stay_out_of_debug_logs_when_all_goes_well(moto_s3: S3Server, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    place = Scratch(moto_s3)
    store = s3_store(moto_s3, access_key_id="AKIDSHOULDNOTSHOW", secret_access_key=SECRET, session_token=TOKEN)
    make_tree(tmp_path / "d", {"a": b"1"})
    store.upload(tmp_path / "d", place.uri("d"))
    store.download(place.uri("d"), tmp_path / "copy")
    assert "Sending http request" in caplog.text
    for secret in (SECRET, TOKEN, "AKIDSHOULDNOTSHOW"):
        assert secret not in caplog.text


def test_credentials_come_from_the_environment_when_not_given(seaweedfs_s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    place = Scratch(seaweedfs_s3)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs_s3.admin.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs_s3.admin.secret_access_key)
    store = S3ArtifactStore(endpoint_url=seaweedfs_s3.endpoint_url, region="us-east-1")
    (tmp_path / "f").write_bytes(b"1")
    store.upload(tmp_path / "f", place.uri("x"))  # SeaweedFS checked the signature
    assert store.exists(place.uri("x"))


def test_no_credentials_anywhere_is_said_plainly(moto_s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = S3ArtifactStore(endpoint_url=moto_s3.endpoint_url, region="us-east-1")
    with pytest.raises(
        SluicewayError,
        match=r"^no S3 credentials found for bucket 'b-b-b' at .*: pass access_key_id and secret_access_key, or set AWS_ACCESS_KEY_ID",
    ):
        store.exists("s3://b-b-b/x")


# Settings.


def test_settings_are_keywords_with_sensible_defaults():
    with pytest.raises(TypeError):
        S3ArtifactStore("http://minio:9000")  # type: ignore[misc]
    assert S3ArtifactStore(endpoint_url="http://minio:9000").addressing_style == "path"
    assert S3ArtifactStore().addressing_style is None  # boto3 decides: virtual-hosted where it can
    assert S3ArtifactStore(endpoint_url="http://minio:9000", addressing_style="virtual").addressing_style == "virtual"
    assert S3ArtifactStore().connect_timeout_seconds == 10


# Through the configuration.


def test_a_pipeline_keeps_its_artifacts_in_s3_as_the_configuration_says(seaweedfs_s3: S3Server, tmp_path: Path, cli: Any):
    """Endpoint and region reach each task through its task spec, the credentials through its environment
    (SeaweedFS checks every signature); the secret is written nowhere."""
    place = Scratch(seaweedfs_s3)
    env = {
        "SLUICEWAY_HOME": str(tmp_path / "home"),
        "SLUICEWAY_ARTIFACTS__URL": place.uri("artifacts"),
        "SLUICEWAY_ARTIFACTS__ENDPOINT": seaweedfs_s3.endpoint_url,
        "SLUICEWAY_ARTIFACTS__REGION": "us-east-1",
        "SLUICEWAY_ARTIFACTS__ACCESS_KEY_ID": seaweedfs_s3.admin.access_key_id,
        "SLUICEWAY_ARTIFACTS__SECRET_ACCESS_KEY": seaweedfs_s3.admin.secret_access_key,
    }
    result = cli("run", str(REPO / "examples" / "train_and_evaluate.py"), env=env)
    assert result.returncode == 0, result.stderr
    stored = place.keys()
    assert any(name.endswith("/train-model/1/model") for name in stored), stored
    assert not (tmp_path / "home" / "artifacts").exists()
    secret = seaweedfs_s3.admin.secret_access_key.encode()
    assert secret not in (result.stdout + result.stderr).encode()
    assert [path for path in (tmp_path / "home").rglob("*") if path.is_file() and secret in path.read_bytes()] == []
