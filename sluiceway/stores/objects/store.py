"""The layout of artifacts in an object store, and the guarantees of every transfer, written once for S3 and OSS.

Layout of an artifact at `SCHEME://BUCKET/KEY`:

- **A file** is the one object `KEY`, with its SHA-256 (hex) in the user metadata `sha256`
  (header `x-amz-meta-sha256` in S3, `x-oss-meta-sha256` in OSS).
- **A folder** is one object per file, `KEY/` + its relative path (with `/` between folders),
  each with its `sha256` metadata, plus the manifest `KEY/.sluiceway-folder.json`:
  `{"sluiceway_folder": 1, "files": {"RELATIVE/PATH": {"size": N, "sha256": "HEX"}, ...},
  "folders": ["EMPTY/SUBFOLDER", ...]}`. The manifest says that `KEY` is a folder and which files
  belong to it (objects under the prefix that it does not list are ignored), and keeps the empty
  subfolders that object stores cannot hold. A folder may not have a top-level file of that name.
- **A prefix without a manifest** (written by another tool) is read as a folder of every object
  under `KEY/`; its files are checked against their `sha256` metadata where they have one.

The layout is the same in every object store, so a folder one store wrote reads the same way
through another (an S3 copy of an OSS bucket, say).

Replacing an artifact removes what the new version lacks: a new file removes every object under
`KEY/`; a new folder removes the object `KEY`, and, after its files and manifest are written, the
objects under `KEY/` that it does not have. Stores such as MinIO refuse `KEY` and `KEY/...` side
by side, so the old kind goes first: a reader may find nothing while a file replaces a folder.

Downloads are checked against the SHA-256 recorded at upload, grow in a partial file beside the
destination and are renamed into place only when verified (see files.py), so a corrupt or
half-written file is never left at the destination. An object larger than
`multipart_threshold_bytes` comes in ranged GETs of `multipart_chunk_bytes`, up to
`max_concurrency` at once, as boto3's and oss2's own downloads do; the ranges are written and
hashed in order, so the partial file is always the object's first bytes and memory holds at most
`max_concurrency` ranges. A download that breaks off continues with a ranged GET (`If-Match` on
the ETag) from where it stopped, in the same call (up to `max_attempts` times) or in a later one.

`ObjectStore` holds all of that; a store for one service adds the requests (`_head`, `_open`,
`_put_bytes`, `_send`, `_list`, `_delete_keys`) and sorts its SDK's errors (`_classify`,
`_is_interruption`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, TypedDict

from ...core.errors import SluicewayError
from .errors import ObjectStoreFailure, Problem, Service, explain, missing
from .files import PartialObject, discard, folder_contents, partial_path, replace, safe_relative, sha256_of, stray_files

FOLDER_MANIFEST = ".sluiceway-folder.json"
MANIFEST_VERSION = 1
READ_CHUNK = 1 << 20
MiB = 1 << 20

log = logging.getLogger(__name__)


class Location(NamedTuple):
    scheme: str
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}"

    def child(self, relative: str) -> Location:
        return Location(self.scheme, self.bucket, f"{self.key}/{relative}")

    @property
    def manifest(self) -> Location:
        return self.child(FOLDER_MANIFEST)


class Folder(NamedTuple):
    """What a folder artifact holds: its files by relative path, with their SHA-256 where known, and its empty subfolders."""

    files: dict[str, str | None]
    empty_folders: list[str]


class ObjectInfo(NamedTuple):
    """What a HEAD or GET says about an object."""

    etag: str
    size: int
    sha256: str | None


class Reading(NamedTuple):
    """A GET being answered: the object, its body in chunks, and how to let go of the connection."""

    info: ObjectInfo
    chunks: Iterator[bytes]
    close: Callable[[], None]


class Upload(NamedTuple):
    """A local file to send to `target`, with its SHA-256 for the object's metadata."""

    source: Path
    target: Location
    sha256: str


class MissingObject(Exception):
    """No object at the key (the bucket exists)."""


class ChangedObject(Exception):
    """The object is not the one a partial download began with (If-Match failed), or the range is past its end."""


class BrokenOff(Exception):
    """A ranged GET's body ended before the range did: worth continuing from where the partial file stops."""


def parse_uri(uri: str, scheme: str, service: str) -> Location:
    """`SCHEME://BUCKET/KEY` as it is written: a key is not percent-decoded, as with the AWS CLI and ossutil."""
    if not uri.startswith(f"{scheme}://"):
        raise SluicewayError(f"{uri} is not an {scheme}:// URI")
    bucket, _, key = uri.removeprefix(f"{scheme}://").partition("/")
    key = key.rstrip("/")
    if not bucket or not key:
        raise SluicewayError(f"{uri} names no object: an {service} artifact URI is {scheme}://BUCKET/KEY")
    return Location(scheme, bucket, key)


class TransferSettings(TypedDict, total=False):
    """The settings every object store takes besides its own; `ObjectStore.__init__` has their defaults."""

    multipart_threshold_bytes: int
    multipart_chunk_bytes: int
    max_concurrency: int
    connect_timeout_seconds: float
    read_timeout_seconds: float
    max_attempts: int
    upload_checksums: bool


class ObjectStore:
    """An artifact store on an object store; see the module's docstring. Subclasses add the requests."""

    scheme: ClassVar[str]
    service: ClassVar[Service]
    delete_batch: ClassVar[int] = 1000  # the most keys one multi-object delete takes (S3 and OSS)
    list_page: int = 1000  # the most keys one listing returns (S3 and OSS)

    def __init__(
        self,
        *,
        multipart_threshold_bytes: int = 8 * MiB,
        multipart_chunk_bytes: int = 8 * MiB,
        max_concurrency: int = 10,
        connect_timeout_seconds: float = 10,
        read_timeout_seconds: float = 60,
        max_attempts: int = 3,
        upload_checksums: bool = True,
    ) -> None:
        """The settings every object store has (each store's how-to says what they mean there), checked here once."""
        for name, value in (
            ("multipart_threshold_bytes", multipart_threshold_bytes),
            ("multipart_chunk_bytes", multipart_chunk_bytes),
            ("max_concurrency", max_concurrency),
            ("max_attempts", max_attempts),
            ("connect_timeout_seconds", connect_timeout_seconds),
            ("read_timeout_seconds", read_timeout_seconds),
        ):
            if value <= 0:
                raise SluicewayError(f"{name} must be positive, not {value}")
        self.multipart_threshold_bytes = multipart_threshold_bytes
        self.multipart_chunk_bytes = multipart_chunk_bytes
        self.max_concurrency = max_concurrency
        self.connect_timeout_seconds = connect_timeout_seconds
        self.read_timeout_seconds = read_timeout_seconds
        self.max_attempts = max_attempts
        self.upload_checksums = upload_checksums
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The SDK's client, made on first use: importing an SDK takes a noticeable fraction of a second."""
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    @property
    def endpoint(self) -> str:
        """Where requests go, for messages."""
        raise NotImplementedError

    # The protocol.

    def upload(self, local_path: Path, uri: str) -> None:
        source, location = Path(local_path), self.parse_uri(uri)
        if not source.exists():
            raise SluicewayError(f"{source} does not exist")
        if source.is_dir():
            self._upload_folder(source, location)
        else:
            self._upload_file(source, location)

    def download(self, uri: str, local_path: Path) -> None:
        location, target = self.parse_uri(uri), Path(local_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if self._fetch(location, target):
            return
        folder = self._read_manifest(location) or self._foreign_folder(location)
        if folder is None:
            raise missing(self.service, location.uri, location.bucket, self.endpoint)
        self._fetch_folder(location, folder, target)

    def exists(self, uri: str) -> bool:
        location = self.parse_uri(uri)
        return self._head(location) is not None or bool(self._keys_under(location, limit=1))

    def parse_uri(self, uri: str) -> Location:
        return parse_uri(uri, self.scheme, self.service.name)

    def read_chunks(self, uri: str) -> Iterator[bytes]:
        """The object at `uri`, a chunk at a time as the GET's body arrives: a server streams it without holding it in
        memory. The GET is sent here, so that a missing object (FileNotFoundError) or a folder (IsADirectoryError) is
        known before a response starts; the connection is let go when the chunks end or are dropped."""
        location = self.parse_uri(uri)
        try:
            reading = self._open(location)
        except MissingObject:
            if self._read_manifest(location) is not None or self._foreign_folder(location) is not None:
                raise IsADirectoryError(f"{uri} is a folder") from None
            raise FileNotFoundError(f"no object at {uri}") from None
        except Exception as error:
            raise self._explain(error, "read", location) from error

        def chunks() -> Iterator[bytes]:
            try:
                yield from reading.chunks
            finally:
                reading.close()

        return chunks()

    # What a subclass provides.

    def _make_client(self) -> Any:
        """The SDK's client; says which extra to install if the SDK is missing."""
        raise NotImplementedError

    def _head(self, location: Location) -> ObjectInfo | None:
        """The object at `location`, or None if there is none (raise for anything else)."""
        raise NotImplementedError

    def _open(self, location: Location, offset: int = 0, etag: str | None = None, end: int | None = None) -> Reading:
        """GET the object from `offset` up to `end` (exclusive; None for the end of the object), only if its ETag is
        still `etag` when one is given. Raises MissingObject if there is none, ChangedObject if it changed."""
        raise NotImplementedError

    def _put_bytes(self, location: Location, body: bytes, content_type: str) -> None:
        raise NotImplementedError

    def _send(self, uploads: list[Upload], location: Location) -> None:
        """Upload files, each with its `sha256` metadata: in parts above the store's threshold, streamed from disk."""
        raise NotImplementedError

    def _list(self, location: Location, prefix: str, limit: int, token: str | None) -> tuple[list[str], str | None]:
        """One page of the keys under `prefix`, and the token of the next page (None after the last)."""
        raise NotImplementedError

    def _delete_keys(self, location: Location, keys: list[str]) -> list[tuple[str, str]]:
        """Delete up to `delete_batch` keys; the (key, error code) of those that could not be."""
        raise NotImplementedError

    def _classify(self, error: BaseException) -> tuple[Problem, str]:
        """What kind of problem one of the SDK's exceptions is, and the server's error code if it gave one."""
        raise NotImplementedError

    def _is_interruption(self, error: BaseException) -> bool:
        """A connection that broke off while a body was being read: worth continuing from where it stopped."""
        raise NotImplementedError

    def _explain(self, error: BaseException, action: str, location: Location) -> ObjectStoreFailure:
        """The failure to raise for an SDK's exception met while trying to `action` (read, write, list, delete) `location`."""
        problem, code = self._classify(error)
        return self._failure(problem, action, location, code=code, name=type(error).__name__)

    def _failure(self, problem: Problem, action: str, location: Location, code: str = "", name: str = "") -> ObjectStoreFailure:
        return explain(
            self.service,
            problem,
            action=action,
            uri=location.uri,
            bucket=location.bucket,
            endpoint=self.endpoint,
            read_timeout=self.read_timeout_seconds,
            code=code,
            name=name,
        )

    # Uploads.

    def _upload_file(self, source: Path, location: Location) -> None:
        digest = sha256_of(source)
        self._delete(self._keys_under(location), location)  # a folder was there
        log.debug("uploading %s to %s", source, location.uri)
        self._send([Upload(source, location, digest)], location)

    def _upload_folder(self, source: Path, location: Location) -> None:
        files, empty_folders = folder_contents(source)
        if FOLDER_MANIFEST in files:
            raise SluicewayError(
                f"{source} has a file named {FOLDER_MANIFEST}, a name the {self.service.name} store keeps for its folder manifest"
            )
        digests = {name: sha256_of(path) for name, path in files.items()}
        if self._head(location) is not None:  # a file was there; MinIO refuses KEY/... beside an object KEY
            self._delete([location.key], location)
        old_keys = self._keys_under(location)
        log.debug("uploading %d files from %s to %s", len(files), source, location.uri)
        self._send([Upload(path, location.child(name), digests[name]) for name, path in files.items()], location)
        manifest = {
            "sluiceway_folder": MANIFEST_VERSION,
            "files": {name: {"size": files[name].stat().st_size, "sha256": digests[name]} for name in files},
            "folders": empty_folders,
        }
        self._put_bytes(location.manifest, json.dumps(manifest, ensure_ascii=False, sort_keys=True).encode(), "application/json")
        kept = {location.child(name).key for name in files} | {location.manifest.key}
        self._delete([key for key in old_keys if key not in kept], location)

    def _delete(self, keys: Iterable[str], location: Location) -> None:
        keys = list(keys)
        for start in range(0, len(keys), self.delete_batch):
            for key, code in self._delete_keys(location, keys[start : start + self.delete_batch]):
                raise self.service.failure(
                    f"could not delete {location.scheme}://{location.bucket}/{key} at {self.endpoint}: the server answered {code}"
                )

    # Downloads.

    def _fetch(self, location: Location, target: Path, expected_sha256: str | None = None) -> bool:
        """Download one object to `target`, resuming a partial download of the same object; False if there is none."""
        partial = partial_path(target)
        resumed = PartialObject.load(partial)
        started = resumed if resumed is not None and resumed.uri == location.uri else None
        interruptions = 0
        hashed = _RunningDigest()
        while True:
            offset = partial.stat().st_size if started is not None else 0
            if started is not None and offset > started.size:
                started = None  # not a prefix of this object after all
                continue
            if started is not None and offset == started.size:
                break  # a previous download got every byte but stopped before checking them
            try:
                if started is None:
                    reading = self._open(location)
                else:
                    log.debug("resuming the download of %s at byte %d of %d", location.uri, offset, started.size)
                    reading = self._open(location, offset, started.etag)
            except MissingObject:
                if partial.is_file():  # a partial download of an object that is gone
                    discard(partial)
                return False
            except ChangedObject:
                started = None  # the object changed since the partial download began: start over
                continue
            if started is None:
                discard(partial)  # a partial folder, or a partial download of another object
                info = reading.info
                started = PartialObject(uri=location.uri, etag=info.etag, size=info.size, sha256=info.sha256)
                started.save(partial)
            hashed.catch_up(partial, offset)
            try:
                with open(partial, "ab" if offset else "wb") as out:
                    for chunk in self._body(location, reading, offset, started):
                        out.write(chunk)
                        hashed.update(chunk)  # while the next chunk is on its way: no second read of the file
            except ChangedObject:
                reading.close()
                started = None  # changed while its later ranges were read: start over
                continue
            except Exception as error:
                reading.close()
                if not (isinstance(error, BrokenOff) or self._is_interruption(error)):
                    raise
                interruptions += 1
                if interruptions >= self.max_attempts:
                    raise self._explain(error, "read", location) from error
                log.debug("the download of %s broke off (%s); continuing", location.uri, type(error).__name__)
                continue
            break
        hashed.catch_up(partial, partial.stat().st_size)
        self._verify(partial, started, expected_sha256 or started.sha256, target, hashed.hexdigest())
        replace(partial, target)
        PartialObject.sidecar(partial).unlink(missing_ok=True)
        return True

    def _body(self, location: Location, reading: Reading, offset: int, started: PartialObject) -> Iterator[bytes]:
        """The object's bytes from `offset` on, in order. When the rest is large, `reading` gives only its first range,
        streamed as it comes, while the next ranges are read into memory, `max_concurrency` connections at a time."""
        size, step = started.size, self.multipart_chunk_bytes
        if size - offset <= self.multipart_threshold_bytes:
            yield from reading.chunks
            return
        starts = iter(range(offset + step, size, step))
        in_flight: deque[tuple[int, Future[list[bytes]]]] = deque()
        with ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="sluiceway-range") as pool:

            def read_ahead(connections: int) -> None:
                for start in islice(starts, max(0, connections - len(in_flight))):
                    end = min(start + step, size)
                    in_flight.append((end - start, pool.submit(self._read_range, location, start, end, started.etag)))

            try:
                read_ahead(self.max_concurrency - 1)  # and `reading`'s connection
                chunks, length = _first(reading.chunks, step), min(step, size - offset)
                while True:
                    got = 0
                    for chunk in chunks:
                        got += len(chunk)
                        yield chunk
                    if got < length:
                        raise BrokenOff()  # continue after the bytes this range got
                    reading.close()  # drops the first connection rather than read on: the rest comes in ranges
                    read_ahead(self.max_concurrency)
                    if not in_flight:
                        return
                    length, future = in_flight.popleft()
                    chunks = iter(future.result())
            finally:
                for _, future in in_flight:
                    future.cancel()

    def _read_range(self, location: Location, start: int, end: int, etag: str) -> list[bytes]:
        """Bytes `start` to `end` (exclusive) of the object whose ETag is `etag`: all of them, or those that came before
        the connection broke."""
        try:
            reading = self._open(location, start, etag, end)
        except MissingObject:
            raise ChangedObject() from None  # deleted since the download began: starting over says so
        chunks: list[bytes] = []
        try:
            for chunk in reading.chunks:
                chunks.append(chunk)
        except Exception as error:
            if not self._is_interruption(error):
                raise
            log.debug("bytes %d-%d of %s broke off (%s)", start, end, location.uri, type(error).__name__)
        finally:
            reading.close()
        return chunks

    def _verify(self, partial: Path, expected: PartialObject, sha256: str | None, target: Path, actual_sha256: str) -> None:
        size = partial.stat().st_size
        actual = actual_sha256 if sha256 else None
        if size == expected.size and actual == sha256:
            return
        discard(partial)
        if size != expected.size:
            problem = f"has {size} bytes instead of {expected.size}"
        else:
            problem = f"has SHA-256 {actual}, but {sha256} was recorded when it was uploaded"
        raise self.service.failure(f"{expected.uri} is corrupt: the downloaded copy {problem}; nothing was written to {target}")

    def _fetch_folder(self, location: Location, folder: Folder, target: Path) -> None:
        """Download a folder's files into a partial folder beside `target`, keeping files a broken-off download already got."""
        staging = partial_path(target)
        if staging.exists() and not staging.is_dir():
            discard(staging)
        staging.mkdir(exist_ok=True)

        def fetch(name: str) -> None:
            destination, sha256 = staging / name, folder.files[name]
            if sha256 and destination.is_file() and sha256_of(destination) == sha256:
                return  # got by an earlier, interrupted download of this folder
            destination.parent.mkdir(parents=True, exist_ok=True)
            if not self._fetch(location.child(name), destination, sha256):
                raise self.service.failure(
                    f"{location.uri} is incomplete: its file {name} is missing (bucket '{location.bucket}' at {self.endpoint})"
                )

        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            list(pool.map(fetch, sorted(folder.files)))
        for name in folder.empty_folders:
            (staging / name).mkdir(parents=True, exist_ok=True)
        for stray in list(stray_files(staging, set(folder.files))):
            stray.unlink()
        replace(staging, target)

    def _read_manifest(self, location: Location) -> Folder | None:
        """The folder at `location` as its manifest describes it; None if it has none."""
        try:
            reading = self._open(location.manifest)
        except MissingObject:
            return None
        try:
            body = b"".join(reading.chunks)
        except Exception as error:
            reading.close()
            raise self._explain(error, "read", location.manifest) from error
        try:
            manifest = json.loads(body)
            files = {safe_relative(name, location.manifest.uri): entry["sha256"] for name, entry in manifest["files"].items()}
            folders = [safe_relative(name, location.manifest.uri) for name in manifest.get("folders", [])]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise self.service.failure(f"{location.manifest.uri} is not a folder manifest this version of Sluiceway can read") from error
        return Folder(files, folders)

    def _foreign_folder(self, location: Location) -> Folder | None:
        """Every object under `location`'s prefix, as the files of a folder written by another tool."""
        names = [key.removeprefix(location.key + "/") for key in self._keys_under(location)]
        files = [safe_relative(name, location.uri) for name in names if name and not name.endswith("/")]
        return Folder(dict.fromkeys(files), []) if files else None

    def _keys_under(self, location: Location, limit: int | None = None) -> list[str]:
        """Keys under `KEY/`, all of them or the first `limit`."""
        keys: list[str] = []
        token: str | None = None
        while True:
            page, token = self._list(location, location.key + "/", min(limit or self.list_page, self.list_page), token)
            keys.extend(page)
            if (limit is not None and len(keys) >= limit) or token is None:
                return keys


def _first(chunks: Iterator[bytes], length: int) -> Iterator[bytes]:
    """The first `length` bytes of `chunks` (fewer if they end sooner)."""
    for chunk in chunks:
        yield chunk[:length]
        length -= len(chunk)
        if length <= 0:
            return


class _RunningDigest:
    """The SHA-256 of a partial download, fed as bytes arrive; it reads the file only for bytes an earlier call got."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._length = 0

    def catch_up(self, partial: Path, length: int) -> None:
        """Make the digest cover exactly the first `length` bytes of `partial`."""
        if length == self._length:
            return
        self._digest, self._length = hashlib.sha256(), 0
        if length:
            with open(partial, "rb") as existing:
                while self._length < length:
                    block = existing.read(min(1 << 20, length - self._length))
                    if not block:
                        break
                    self.update(block)

    def update(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self._length += len(chunk)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
