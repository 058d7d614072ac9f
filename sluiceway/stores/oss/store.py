"""The OSS artifact store: `oss://BUCKET/KEY` in Alibaba Cloud Object Storage Service, through the official SDK, oss2.

The layout in the bucket, the checks on every download and the resumption of broken-off downloads
are the object stores' (../objects/store.py), the same as S3's: a folder written through one store
reads the same way through the other.

What is OSS's own:

- Requests are signed with OSS's V4 signature (`OSS4-HMAC-SHA256`), which needs the region
  (`cn-hangzhou`): given, or read from an `oss-REGION[-internal].aliyuncs.com` endpoint. OSS no
  longer accepts V1 signatures from accounts or buckets made since 2025; `signature_version="v1"`
  is there for older deployments that only know V1.
- Uploads above `multipart_threshold_bytes` go in parts (`multipart_chunk_bytes` each), read from
  disk part by part, several at a time. oss2's own resumable upload is not used: it keeps
  checkpoint files under the home folder, and a failed multipart upload is aborted here instead.
- With `upload_checksums` (the default) oss2 computes the CRC-64 of every upload and part as it
  sends them and compares it with the one OSS computed of what it received (`x-oss-hash-crc64ecma`);
  the whole object's CRC-64 is checked again when a multipart upload completes. A mismatch is an
  error. Downloads are checked against the recorded SHA-256 instead, which also covers resumed ones.
- A ranged GET asks for standard range behaviour (`x-oss-range-behavior: standard`): by default
  OSS answers a range past the end with the whole object, which would be appended to a partial file.
- oss2 does not retry; requests that fail on the network or with a 5xx answer are retried here,
  `max_attempts` times in all, with a short backoff.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar

from ...core.errors import SluicewayError
from ..objects.errors import Problem
from ..objects.store import FOLDER_MANIFEST, READ_CHUNK, ChangedObject, Location, MissingObject, ObjectInfo, ObjectStore, Reading, Upload
from .errors import OSS, code_of, keep_out_of_logs, problem_of, status_of

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..objects.store import TransferSettings

__all__ = ["FOLDER_MANIFEST", "OssArtifactStore"]

MAX_PARTS = 10_000  # OSS takes at most this many parts per object
SHA256_HEADER = "x-oss-meta-sha256"
ENV_ACCESS_KEY_ID, ENV_SECRET, ENV_TOKEN = "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN"
_REGION_IN_ENDPOINT = re.compile(r"^oss-(?!accelerate)([a-z0-9-]+?)(?:-internal)?\.aliyuncs\.com$")

log = logging.getLogger(__name__)

SignatureVersion = Literal["v4", "v1"]
T = TypeVar("T")


class _Multipart(NamedTuple):
    upload: Upload
    upload_id: str
    parts: list[tuple[int, int, int]]  # (part number, offset, size)


class OssArtifactStore(ObjectStore):
    """Keeps artifacts as objects in Alibaba Cloud OSS."""

    scheme = "oss"
    service = OSS
    credential_env = {"access_key_id": ENV_ACCESS_KEY_ID, "secret_access_key": ENV_SECRET, "session_token": ENV_TOKEN}
    """Where oss2's EnvironmentVariableCredentialsProvider finds each credential: the orchestrator hands configured
    credentials to tasks there."""

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        signature_version: SignatureVersion = "v4",
        **transfer: Unpack[TransferSettings],
    ) -> None:
        """Every setting is optional here, so that the configuration can be checked before it is complete; the
        endpoint (`https://oss-cn-hangzhou.aliyuncs.com`) is needed by the first request. Without credentials,
        they are read from OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET and OSS_SESSION_TOKEN at each request. The transfer
        settings (multipart sizes, concurrency, timeouts, attempts, checksums) are every object store's: see ObjectStore."""
        if (access_key_id is None) != (secret_access_key is None):
            raise SluicewayError("give both access_key_id and secret_access_key, or neither (to read them from OSS_ACCESS_KEY_ID ...)")
        if signature_version not in ("v4", "v1"):
            raise SluicewayError(f"signature_version must be 'v4' or 'v1', not {signature_version!r}")
        super().__init__(**transfer)
        self.endpoint_url = endpoint if endpoint is None or "://" in endpoint else f"https://{endpoint}"
        self.region = _region(region, self.endpoint_url)
        self.signature_version: SignatureVersion = signature_version
        self._credentials = (access_key_id, secret_access_key, session_token)
        keep_out_of_logs(*self._credentials)

    def __repr__(self) -> str:  # never shows credentials
        return f"OssArtifactStore(endpoint={self.endpoint_url!r}, region={self.region!r}, signature_version={self.signature_version!r})"

    @property
    def endpoint(self) -> str:
        return self.endpoint_url or "(no endpoint)"

    # Requests.

    def _head(self, location: Location) -> ObjectInfo | None:
        try:
            answer = self._call("read", location, lambda bucket: bucket.head_object(location.key), missing_ok=True)
        except MissingObject:
            return None
        return ObjectInfo(answer.etag, answer.content_length, answer.headers.get(SHA256_HEADER))

    def _open(self, location: Location, offset: int = 0, etag: str | None = None, end: int | None = None) -> Reading:
        ranged = bool(offset or end)
        headers = {"x-oss-range-behavior": "standard"} if ranged else {}
        if etag is not None:
            headers["If-Match"] = f'"{etag}"'
        byte_range = (offset, None if end is None else end - 1) if ranged else None
        answer = self._call(
            "read", location, lambda bucket: bucket.get_object(location.key, byte_range=byte_range, headers=headers), missing_ok=True
        )
        if ranged and answer.status != 206:  # the whole object, not the range asked for
            answer.close()
            raise ChangedObject()
        info = ObjectInfo(answer.etag, answer.content_length, answer.headers.get(SHA256_HEADER))
        return Reading(info, _chunks(answer), answer.close)

    def _put_bytes(self, location: Location, body: bytes, content_type: str) -> None:
        self._call("write", location, lambda bucket: bucket.put_object(location.key, body, headers={"Content-Type": content_type}))

    def _send(self, uploads: list[Upload], location: Location) -> None:
        """Upload files and the parts of large ones through one pool of `max_concurrency` threads; abort what is left
        of any multipart upload if one fails."""
        threshold = self.multipart_threshold_bytes
        small = [upload for upload in uploads if upload.source.stat().st_size < threshold]
        large = [upload for upload in uploads if upload.source.stat().st_size >= threshold]
        started: list[_Multipart] = []
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            try:
                for upload in large:
                    started.append(self._start_multipart(upload))
                puts = [pool.submit(self._put_file, upload) for upload in small]
                parts = [[pool.submit(self._put_part, multipart, *part) for part in multipart.parts] for multipart in started]
                _results(puts)
                while started:
                    multipart, futures = started[0], parts.pop(0)
                    self._complete_multipart(multipart, _results(futures))
                    started.pop(0)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                for multipart in started:
                    self._abort_multipart(multipart)
                raise

    def _put_file(self, upload: Upload) -> None:
        def put(bucket: Any) -> Any:
            with open(upload.source, "rb") as body:
                return bucket.put_object(upload.target.key, body, headers={SHA256_HEADER: upload.sha256})

        log.debug("uploading %s to %s", upload.source, upload.target.uri)
        self._call("write", upload.target, put)

    def _start_multipart(self, upload: Upload) -> _Multipart:
        size = upload.source.stat().st_size
        part_size = max(self.multipart_chunk_bytes, math.ceil(size / MAX_PARTS))
        parts = [(number, offset, min(part_size, size - offset)) for number, offset in enumerate(range(0, size, part_size), start=1)]
        answer = self._call(
            "write", upload.target, lambda bucket: bucket.init_multipart_upload(upload.target.key, headers={SHA256_HEADER: upload.sha256})
        )
        log.debug("uploading %s to %s in %d parts", upload.source, upload.target.uri, len(parts))
        return _Multipart(upload, answer.upload_id, parts)

    def _put_part(self, multipart: _Multipart, number: int, offset: int, size: int) -> Any:
        from oss2.models import PartInfo
        from oss2.utils import SizedFileAdapter

        def put(bucket: Any) -> Any:
            with open(multipart.upload.source, "rb") as source:
                source.seek(offset)
                return bucket.upload_part(multipart.upload.target.key, multipart.upload_id, number, SizedFileAdapter(source, size))

        answer = self._call("write", multipart.upload.target, put)
        return PartInfo(number, answer.etag, size=size, part_crc=answer.crc)  # size and CRC: oss2 checks the whole object's

    def _complete_multipart(self, multipart: _Multipart, parts: list[Any]) -> None:
        key, upload_id = multipart.upload.target.key, multipart.upload_id
        self._call("write", multipart.upload.target, lambda bucket: bucket.complete_multipart_upload(key, upload_id, parts))

    def _abort_multipart(self, multipart: _Multipart) -> None:
        """Best effort: the upload failed already, and that is the error to report."""
        key, upload_id = multipart.upload.target.key, multipart.upload_id
        try:
            self._call("write", multipart.upload.target, lambda bucket: bucket.abort_multipart_upload(key, upload_id))
        except Exception as error:  # the parts stay until the bucket's lifecycle rule removes them
            log.warning("could not abort the multipart upload to %s: %s", multipart.upload.target.uri, error)

    def _list(self, location: Location, prefix: str, limit: int, token: str | None) -> tuple[list[str], str | None]:
        answer = self._call(
            "list", location, lambda bucket: bucket.list_objects_v2(prefix=prefix, continuation_token=token or "", max_keys=limit)
        )
        keys = [entry.key for entry in answer.object_list]
        return keys, answer.next_continuation_token if answer.is_truncated else None

    def _delete_keys(self, location: Location, keys: list[str]) -> list[tuple[str, str]]:
        if not keys:
            return []
        answer = self._call("delete", location, lambda bucket: bucket.batch_delete_objects(keys))
        deleted = set(answer.deleted_keys)  # OSS lists every key it deleted, or found already gone
        return [(key, "that it was not deleted") for key in keys if key not in deleted]

    def _call(self, action: str, location: Location, request: Callable[[Any], T], *, missing_ok: bool = False) -> T:
        """One OSS request, retried on the network and on 5xx answers. With `missing_ok`, a missing object raises
        MissingObject; a changed one (If-Match, range) ChangedObject; anything else an OssFailure."""
        from oss2.exceptions import OssError, RequestError, ServerError

        bucket = self._bucket(location)
        attempt = 1
        while True:
            self._check_credentials(location)
            try:
                return request(bucket)
            except OssError as error:
                code, status = code_of(error), status_of(error)
                if missing_ok and status == 404 and code in ("NoSuchKey", "404"):
                    raise MissingObject() from error
                if status in (412, 416):
                    raise ChangedObject() from error
                retryable = isinstance(error, RequestError) or (isinstance(error, ServerError) and status >= 500)
                if not retryable or attempt >= self.max_attempts:
                    if missing_ok and status == 403 and code == "403":
                        # A HEAD's 403 without an error code cannot tell wrong credentials from a missing permission; a listing's can.
                        self._keys_under(location, limit=1)
                    raise self._explain(error, action, location) from error
                log.debug("retrying a request for %s after %s", location.uri, code or type(error).__name__)
                time.sleep(min(0.1 * 2**attempt, 2.0))
                attempt += 1

    def _check_credentials(self, location: Location) -> None:
        """Credentials from the environment are read at each request (they may be rotated); say so plainly if they are not there."""
        if self._credentials[0] is None and not (os.environ.get(ENV_ACCESS_KEY_ID) and os.environ.get(ENV_SECRET)):
            raise self._failure("no-credentials", "use", location)

    def _classify(self, error: BaseException) -> tuple[Problem, str]:
        return problem_of(error)

    def _is_interruption(self, error: BaseException) -> bool:
        import requests
        from oss2.exceptions import RequestError
        from urllib3.exceptions import HTTPError as Urllib3Error

        return isinstance(error, (requests.RequestException, RequestError, Urllib3Error, ConnectionError, TimeoutError))

    # The client.

    def _bucket(self, location: Location) -> Any:
        """oss2's Bucket for `location`'s bucket; one per bucket name, all sharing one connection pool."""
        client: _Client = self.client
        with self._lock:
            bucket = client.buckets.get(location.bucket)
            if bucket is None:
                bucket = client.buckets[location.bucket] = client.bucket(location.bucket, self)
            return bucket

    def _make_client(self) -> _Client:
        try:
            import oss2
        except ImportError as error:
            raise SluicewayError("the oss artifact store needs oss2: install sluiceway[oss]") from error
        if not self.endpoint_url:
            raise SluicewayError(
                "the oss artifact store needs an endpoint: set artifacts.endpoint, e.g. https://oss-cn-hangzhou.aliyuncs.com"
            )
        if self.signature_version == "v4" and not self.region:
            raise SluicewayError(
                f"OSS V4 signatures need the region, and the endpoint {self.endpoint_url} does not say it: set artifacts.region, e.g. cn-hangzhou"
            )
        if self._credentials[0] is None:  # read at each request; these are the ones there now
            keep_out_of_logs(os.environ.get(ENV_ACCESS_KEY_ID), os.environ.get(ENV_SECRET), os.environ.get(ENV_TOKEN))
            provider: Any = oss2.credentials.EnvironmentVariableCredentialsProvider()
        else:
            access_key_id, secret, token = self._credentials
            provider = oss2.credentials.StaticCredentialsProvider(access_key_id, secret, token or "")
        auth = oss2.ProviderAuthV4(provider) if self.signature_version == "v4" else oss2.ProviderAuth(provider)
        return _Client(auth, oss2.Session(pool_size=max(10, self.max_concurrency)))


class _Client:
    """What oss2 needs for every bucket: the signer, and one connection pool."""

    def __init__(self, auth: Any, session: Any) -> None:
        self.auth, self.session = auth, session
        self.buckets: dict[str, Any] = {}

    def bucket(self, name: str, store: OssArtifactStore) -> Any:
        import oss2

        try:
            return oss2.Bucket(
                self.auth,
                store.endpoint_url,
                name,
                session=self.session,
                connect_timeout=(store.connect_timeout_seconds, store.read_timeout_seconds),  # requests' (connect, read)
                enable_crc=store.upload_checksums,
                region=store.region,
                app_name="sluiceway",
            )
        except oss2.exceptions.ClientError as error:  # a name or endpoint oss2 refuses before sending anything
            raise SluicewayError(f"cannot use bucket '{name}' at {store.endpoint}: {error.body.removeprefix('ClientError: ')}") from None


def _region(region: str | None, endpoint: str | None) -> str | None:
    """The region as V4 signatures name it (`cn-hangzhou`): given (an `oss-` prefix, as in older region ids, is dropped),
    or read from an Alibaba Cloud endpoint's host name."""
    if region:
        return region.removeprefix("oss-")
    if endpoint:
        host = endpoint.partition("://")[2].partition("/")[0].partition(":")[0]
        found = _REGION_IN_ENDPOINT.match(host)
        if found:
            return found.group(1)
    return None


def _chunks(answer: Any) -> Iterator[bytes]:
    while True:
        block = answer.read(READ_CHUNK)
        if not block:
            return
        yield block


def _results(futures: list[Future[T]]) -> list[T]:
    return [future.result() for future in futures]
