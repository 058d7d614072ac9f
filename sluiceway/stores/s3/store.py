"""The S3 artifact store.

Layout of an artifact at `s3://BUCKET/KEY`:

- **A file** is the one object `KEY`, with its SHA-256 (hex) in the user metadata `sha256`
  (header `x-amz-meta-sha256`).
- **A folder** is one object per file, `KEY/` + its relative path (with `/` between folders),
  each with its `sha256` metadata, plus the manifest `KEY/.sluiceway-folder.json`:
  `{"sluiceway_folder": 1, "files": {"RELATIVE/PATH": {"size": N, "sha256": "HEX"}, ...},
  "folders": ["EMPTY/SUBFOLDER", ...]}`. The manifest says that `KEY` is a folder and which files
  belong to it (objects under the prefix that it does not list are ignored), and keeps the empty
  subfolders that S3 cannot hold. A folder may not have a top-level file of that name.
- **A prefix without a manifest** (written by another tool) is read as a folder of every object
  under `KEY/`; its files are checked against their `sha256` metadata where they have one.

Replacing an artifact removes what the new version lacks: a new file removes every object under
`KEY/`; a new folder removes the object `KEY`, and, after its files and manifest are written, the
objects under `KEY/` that it does not have. Stores such as MinIO refuse `KEY` and `KEY/...` side
by side, so the old kind goes first: a reader may find nothing while a file replaces a folder.

Downloads are checked against the SHA-256 recorded at upload, grow in a partial file beside the
destination and are renamed into place only when verified (see files.py), so a corrupt or
half-written file is never left at the destination. A download that breaks off continues with a
ranged GET (`If-Match` on the ETag) from where it stopped, in the same call (up to `max_attempts`
times) or in a later one. Uploads go through boto3's managed transfer: a file above
`multipart_threshold_bytes` is sent in parts, streamed from disk, and every request carries a
SHA-256 checksum that the server verifies (`upload_checksums`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, NamedTuple

from ...core.errors import SluicewayError
from .errors import S3Failure, explain, is_changed_object, is_denied, is_missing_object, keep_out_of_logs, missing
from .files import (
    PartialObject,
    discard,
    folder_contents,
    partial_path,
    replace,
    safe_relative,
    sha256_of,
    stray_files,
)

FOLDER_MANIFEST = ".sluiceway-folder.json"
MANIFEST_VERSION = 1
DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes
READ_CHUNK = 1 << 20
MiB = 1 << 20

log = logging.getLogger(__name__)

AddressingStyle = Literal["path", "virtual", "auto"]


class Location(NamedTuple):
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def child(self, relative: str) -> Location:
        return Location(self.bucket, f"{self.key}/{relative}")

    @property
    def manifest(self) -> Location:
        return self.child(FOLDER_MANIFEST)


class Folder(NamedTuple):
    """What a folder artifact holds: its files by relative path, with their SHA-256 where known, and its empty subfolders."""

    files: dict[str, str | None]
    empty_folders: list[str]


def parse_uri(uri: str) -> Location:
    """`s3://BUCKET/KEY` as it is written: a key is not percent-decoded, as with the AWS CLI."""
    if not uri.startswith("s3://"):
        raise SluicewayError(f"{uri} is not an s3:// URI")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    key = key.rstrip("/")
    if not bucket or not key:
        raise SluicewayError(f"{uri} names no object: an S3 artifact URI is s3://BUCKET/KEY")
    return Location(bucket, key)


class S3ArtifactStore:
    """Keeps artifacts as objects in S3 or an S3-compatible store (MinIO through `endpoint_url`)."""

    scheme = "s3"
    credential_env = {
        "access_key_id": "AWS_ACCESS_KEY_ID",
        "secret_access_key": "AWS_SECRET_ACCESS_KEY",
        "session_token": "AWS_SESSION_TOKEN",
    }
    """Where boto3 finds each credential in the environment: the orchestrator hands configured credentials to tasks there."""

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        endpoint: str | None = None,
        region: str | None = None,
        addressing_style: AddressingStyle | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        multipart_threshold_bytes: int = 8 * MiB,
        multipart_chunk_bytes: int = 8 * MiB,
        max_concurrency: int = 10,
        connect_timeout_seconds: float = 10,
        read_timeout_seconds: float = 60,
        max_attempts: int = 3,
        upload_checksums: bool = True,
    ) -> None:
        """Every setting is optional. Without credentials, boto3 finds them as the AWS CLI does: the
        environment (AWS_ACCESS_KEY_ID, ...), ~/.aws/credentials and config, then an instance or pod role.
        `endpoint` is `endpoint_url` under the configuration file's name (`artifacts.endpoint`)."""
        if endpoint is not None and endpoint_url is not None and endpoint != endpoint_url:
            raise SluicewayError("give endpoint_url or endpoint (the same setting), not both")
        endpoint_url = endpoint_url if endpoint_url is not None else endpoint
        if (access_key_id is None) != (secret_access_key is None):
            raise SluicewayError("give both access_key_id and secret_access_key, or neither (to use boto3's credential chain)")
        if addressing_style not in (None, "path", "virtual", "auto"):
            raise SluicewayError(f"addressing_style must be 'path', 'virtual' or 'auto', not {addressing_style!r}")
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
        self.endpoint_url = endpoint_url
        self.region = region
        self.addressing_style: AddressingStyle | None = addressing_style or ("path" if endpoint_url else None)
        """None leaves the choice to boto3 (and ~/.aws/config): virtual-hosted where the bucket name allows it."""
        self.multipart_threshold_bytes = multipart_threshold_bytes
        self.multipart_chunk_bytes = multipart_chunk_bytes
        self.max_concurrency = max_concurrency
        self.connect_timeout_seconds = connect_timeout_seconds
        self.read_timeout_seconds = read_timeout_seconds
        self.max_attempts = max_attempts
        self.upload_checksums = upload_checksums
        self._credentials = (access_key_id, secret_access_key, session_token)
        keep_out_of_logs(*self._credentials)
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never shows credentials
        return f"S3ArtifactStore(endpoint_url={self.endpoint_url!r}, region={self.region!r}, addressing_style={self.addressing_style!r})"

    @property
    def client(self) -> Any:
        """The boto3 S3 client, made on first use (importing boto3 takes a noticeable fraction of a second)."""
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    @property
    def endpoint(self) -> str:
        """The endpoint requests go to, for messages: `endpoint_url`, or AWS's own for the region."""
        return self.endpoint_url or (f"AWS S3 ({self.region})" if self.region else "AWS S3")

    # The protocol.

    def upload(self, local_path: Path, uri: str) -> None:
        source, location = Path(local_path), parse_uri(uri)
        if not source.exists():
            raise SluicewayError(f"{source} does not exist")
        if source.is_dir():
            self._upload_folder(source, location)
        else:
            self._upload_file(source, location)

    def download(self, uri: str, local_path: Path) -> None:
        location, target = parse_uri(uri), Path(local_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if self._fetch(location, target):
            return
        folder = self._read_manifest(location) or self._foreign_folder(location)
        if folder is None:
            raise missing(location.uri, location.bucket, self.endpoint)
        self._fetch_folder(location, folder, target)

    def exists(self, uri: str) -> bool:
        location = parse_uri(uri)
        return self._head(location) is not None or bool(self._keys_under(location, limit=1))

    # Uploads.

    def _upload_file(self, source: Path, location: Location) -> None:
        digest = sha256_of(source)
        self._delete(self._keys_under(location), location)  # a folder was there
        log.debug("uploading %s to %s", source, location.uri)
        self._transfer([(source, location, digest)], location)

    def _upload_folder(self, source: Path, location: Location) -> None:
        files, empty_folders = folder_contents(source)
        if FOLDER_MANIFEST in files:
            raise SluicewayError(f"{source} has a file named {FOLDER_MANIFEST}, a name the S3 store keeps for its folder manifest")
        digests = {name: sha256_of(path) for name, path in files.items()}
        if self._head(location) is not None:  # a file was there; MinIO refuses KEY/... beside an object KEY
            self._delete([location.key], location)
        old_keys = self._keys_under(location)
        log.debug("uploading %d files from %s to %s", len(files), source, location.uri)
        self._transfer([(path, location.child(name), digests[name]) for name, path in files.items()], location)
        manifest = {
            "sluiceway_folder": MANIFEST_VERSION,
            "files": {name: {"size": files[name].stat().st_size, "sha256": digests[name]} for name in files},
            "folders": empty_folders,
        }
        body = json.dumps(manifest, ensure_ascii=False, sort_keys=True).encode()
        self._call("write", location.manifest, "put_object", Body=body, ContentType="application/json", **self._checksum_args())
        kept = {location.child(name).key for name in files} | {location.manifest.key}
        self._delete([key for key in old_keys if key not in kept], location)

    def _transfer(self, uploads: list[tuple[Path, Location, str]], location: Location) -> None:
        """Upload files through one managed transfer: multipart above the threshold, streamed from disk, in parallel."""
        from boto3.s3.transfer import TransferConfig, create_transfer_manager
        from botocore.exceptions import BotoCoreError, ClientError

        config = TransferConfig(
            multipart_threshold=self.multipart_threshold_bytes,
            multipart_chunksize=self.multipart_chunk_bytes,
            max_concurrency=self.max_concurrency,
            preferred_transfer_client="classic",
        )
        try:
            with create_transfer_manager(self.client, config) as manager:
                futures = [
                    manager.upload(
                        str(path), target.bucket, target.key, extra_args={"Metadata": {"sha256": digest}, **self._checksum_args()}
                    )
                    for path, target, digest in uploads
                ]
                for future in futures:
                    future.result()
        except (BotoCoreError, ClientError) as error:
            raise self._explain(error, "write", location) from error

    def _checksum_args(self) -> dict[str, Any]:
        return {"ChecksumAlgorithm": "SHA256"} if self.upload_checksums else {}

    def _delete(self, keys: Iterable[str], location: Location) -> None:
        keys = list(keys)
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
            answer = self._call("delete", location, "delete_objects", Delete={"Objects": batch, "Quiet": True}, with_key=False)
            for failure in answer.get("Errors", []):
                raise S3Failure(
                    f"could not delete s3://{location.bucket}/{failure.get('Key')} at {self.endpoint}: the server answered {failure.get('Code')}"
                )

    # Downloads.

    def _fetch(self, location: Location, target: Path, expected_sha256: str | None = None) -> bool:
        """Download one object to `target`, resuming a partial download of the same object; False if there is none."""
        partial = partial_path(target)
        resumed = PartialObject.load(partial)
        started = resumed if resumed is not None and resumed.uri == location.uri else None
        interruptions = 0
        while True:
            offset = partial.stat().st_size if started is not None else 0
            if started is not None and offset > started.size:
                started = None  # not a prefix of this object after all
                continue
            if started is not None and offset == started.size:
                break  # a previous download got every byte but stopped before checking them
            try:
                if started is None:
                    answer = self._call("read", location, "get_object")
                else:
                    answer = self._call("read", location, "get_object", Range=f"bytes={offset}-", IfMatch=started.etag)
                    log.debug("resuming the download of %s at byte %d of %d", location.uri, offset, started.size)
            except _Missing:
                if partial.is_file():  # a partial download of an object that is gone
                    discard(partial)
                return False
            except _Changed:
                started = None  # the object changed since the partial download began: start over
                continue
            if started is None:
                discard(partial)  # a partial folder, or a partial download of another object
                started = PartialObject(
                    uri=location.uri, etag=answer["ETag"], size=answer["ContentLength"], sha256=answer.get("Metadata", {}).get("sha256")
                )
                started.save(partial)
            try:
                with open(partial, "ab" if offset else "wb") as out:
                    for chunk in answer["Body"].iter_chunks(READ_CHUNK):
                        out.write(chunk)
            except Exception as error:
                answer["Body"].close()
                if not _is_interruption(error):
                    raise
                interruptions += 1
                if interruptions >= self.max_attempts:
                    raise self._explain(error, "read", location) from error
                log.debug("the download of %s broke off (%s); continuing", location.uri, type(error).__name__)
                continue
            break
        self._verify(partial, started, expected_sha256 or started.sha256, target)
        replace(partial, target)
        PartialObject.sidecar(partial).unlink(missing_ok=True)
        return True

    def _verify(self, partial: Path, expected: PartialObject, sha256: str | None, target: Path) -> None:
        size = partial.stat().st_size
        actual = sha256_of(partial) if sha256 else None
        if size == expected.size and actual == sha256:
            return
        discard(partial)
        if size != expected.size:
            problem = f"has {size} bytes instead of {expected.size}"
        else:
            problem = f"has SHA-256 {actual}, but {sha256} was recorded when it was uploaded"
        raise S3Failure(f"{expected.uri} is corrupt: the downloaded copy {problem}; nothing was written to {target}")

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
                raise S3Failure(f"{location.uri} is incomplete: its file {name} is missing (bucket '{location.bucket}' at {self.endpoint})")

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
            answer = self._call("read", location.manifest, "get_object")
        except _Missing:
            return None
        try:
            manifest = json.loads(answer["Body"].read())
            files = {safe_relative(name, location.manifest.uri): entry["sha256"] for name, entry in manifest["files"].items()}
            folders = [safe_relative(name, location.manifest.uri) for name in manifest.get("folders", [])]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise S3Failure(f"{location.manifest.uri} is not a folder manifest this version of Sluiceway can read") from error
        return Folder(files, folders)

    def _foreign_folder(self, location: Location) -> Folder | None:
        """Every object under `location`'s prefix, as the files of a folder written by another tool."""
        names = [key.removeprefix(location.key + "/") for key in self._keys_under(location)]
        files = [safe_relative(name, location.uri) for name in names if name and not name.endswith("/")]
        return Folder(dict.fromkeys(files), []) if files else None

    # Requests.

    def _head(self, location: Location) -> dict[str, Any] | None:
        """The object's headers, or None if there is none. A HEAD answer has no body, so its 404 does not say
        whether the bucket is missing: every caller lists the prefix next, which does."""
        try:
            headers: dict[str, Any] = self._call("read", location, "head_object")
            return headers
        except _Missing:
            return None

    def _keys_under(self, location: Location, limit: int | None = None) -> list[str]:
        """Keys under `KEY/`, all of them or the first `limit`."""
        keys: list[str] = []
        arguments: dict[str, Any] = {"Prefix": location.key + "/"}
        while True:
            if limit is not None:
                arguments["MaxKeys"] = limit
            answer = self._call("list", location, "list_objects_v2", with_key=False, **arguments)
            keys.extend(entry["Key"] for entry in answer.get("Contents", []))
            if (limit is not None and len(keys) >= limit) or not answer.get("IsTruncated"):
                return keys
            arguments["ContinuationToken"] = answer["NextContinuationToken"]

    def _call(self, action: str, location: Location, operation: str, *, with_key: bool = True, **arguments: Any) -> Any:
        """One S3 request. A missing object raises _Missing, a changed one _Changed, anything else an S3Failure."""
        client = self.client  # first: says so if boto3 is not installed
        from botocore.exceptions import BotoCoreError, ClientError

        if with_key:
            arguments["Key"] = location.key
        try:
            return getattr(client, operation)(Bucket=location.bucket, **arguments)
        except (BotoCoreError, ClientError) as error:
            if operation in ("head_object", "get_object") and is_missing_object(error):
                raise _Missing() from error
            if is_changed_object(error):
                raise _Changed() from error
            if operation == "head_object" and is_denied(error):
                # A HEAD's 403 cannot tell wrong credentials from a missing permission either; a listing's answer can.
                self._keys_under(location, limit=1)
            raise self._explain(error, action, location) from error

    def _explain(self, error: BaseException, action: str, location: Location) -> S3Failure:
        return explain(
            error, action=action, uri=location.uri, bucket=location.bucket, endpoint=self.endpoint, read_timeout=self.read_timeout_seconds
        )

    def _make_client(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as error:
            raise SluicewayError("the s3 artifact store needs boto3: install sluiceway[s3]") from error
        access_key_id, secret_access_key, session_token = self._credentials
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            region_name=self.region,
        )
        options: dict[str, Any] = {}
        if self.addressing_style is not None:
            options["s3"] = {"addressing_style": self.addressing_style}
        if not self.upload_checksums and "request_checksum_calculation" in Config.OPTION_DEFAULTS:
            options["request_checksum_calculation"] = "when_required"  # botocore >= 1.36 adds CRC32 checksums by default
        config = Config(
            connect_timeout=self.connect_timeout_seconds,
            read_timeout=self.read_timeout_seconds,
            retries={"mode": "standard", "max_attempts": self.max_attempts},
            max_pool_connections=max(10, self.max_concurrency),
            user_agent_extra="sluiceway",
            **options,
        )
        client = session.client("s3", endpoint_url=self.endpoint_url, config=config)
        found = session.get_credentials()
        if found is not None:  # from the environment or ~/.aws: keep them out of the logs too
            frozen = found.get_frozen_credentials()
            keep_out_of_logs(frozen.access_key, frozen.secret_key, frozen.token)
        return client


class _Missing(Exception):
    """No object at the key (the bucket exists)."""


class _Changed(Exception):
    """The object is not the one a partial download began with."""


def _is_interruption(error: BaseException) -> bool:
    """A connection that broke off while a body was being read: worth continuing from where it stopped."""
    from botocore.exceptions import ConnectionError as BotocoreConnectionError
    from botocore.exceptions import HTTPClientError, IncompleteReadError
    from urllib3.exceptions import HTTPError as Urllib3Error

    return isinstance(error, (HTTPClientError, BotocoreConnectionError, IncompleteReadError, Urllib3Error, ConnectionError, TimeoutError))
