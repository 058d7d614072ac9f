"""The S3 artifact store: `s3://BUCKET/KEY` in S3 or an S3-compatible server, through boto3.

The layout in the bucket, the checks on every download and the resumption of broken-off downloads
are the object stores' (../objects/store.py), the same as OSS's. Uploads go through boto3's managed
transfer: a file above `multipart_threshold_bytes` is sent in parts, streamed from disk, and every
request carries a CRC32 checksum that the server verifies (`upload_checksums`). The CRC catches what
the network damages, as boto3's own default does; the SHA-256 recorded with the object is the
end-to-end check every download makes. (A SHA-256 per request would hash every byte a second time:
about a tenth of an upload's time on a two-core machine.)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

from ...core.errors import SluicewayError
from ..objects.errors import Problem
from ..objects.store import FOLDER_MANIFEST, READ_CHUNK, ChangedObject, Location, MissingObject, ObjectInfo, ObjectStore, Reading, Upload
from .errors import S3, is_changed_object, is_denied, is_missing_object, keep_out_of_logs, problem_of

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..objects.store import TransferSettings

__all__ = ["FOLDER_MANIFEST", "S3ArtifactStore"]


log = logging.getLogger(__name__)

AddressingStyle = Literal["path", "virtual", "auto"]


class S3ArtifactStore(ObjectStore):
    """Keeps artifacts as objects in S3 or an S3-compatible store (MinIO through `endpoint_url`)."""

    scheme = "s3"
    service = S3
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
        **transfer: Unpack[TransferSettings],
    ) -> None:
        """Every setting is optional. Without credentials, boto3 finds them as the AWS CLI does: the
        environment (AWS_ACCESS_KEY_ID, ...), ~/.aws/credentials and config, then an instance or pod role.
        `endpoint` is `endpoint_url` under the configuration file's name (`artifacts.endpoint`). The transfer settings
        (multipart sizes, concurrency, timeouts, attempts, checksums) are every object store's: see ObjectStore."""
        if endpoint is not None and endpoint_url is not None and endpoint != endpoint_url:
            raise SluicewayError("give endpoint_url or endpoint (the same setting), not both")
        endpoint_url = endpoint_url if endpoint_url is not None else endpoint
        if (access_key_id is None) != (secret_access_key is None):
            raise SluicewayError("give both access_key_id and secret_access_key, or neither (to use boto3's credential chain)")
        if addressing_style not in (None, "path", "virtual", "auto"):
            raise SluicewayError(f"addressing_style must be 'path', 'virtual' or 'auto', not {addressing_style!r}")
        super().__init__(**transfer)
        self.endpoint_url = endpoint_url
        self.region = region
        self.addressing_style: AddressingStyle | None = addressing_style or ("path" if endpoint_url else None)
        """None leaves the choice to boto3 (and ~/.aws/config): virtual-hosted where the bucket name allows it."""
        self._credentials = (access_key_id, secret_access_key, session_token)
        keep_out_of_logs(*self._credentials)

    def __repr__(self) -> str:  # never shows credentials
        return f"S3ArtifactStore(endpoint_url={self.endpoint_url!r}, region={self.region!r}, addressing_style={self.addressing_style!r})"

    @property
    def endpoint(self) -> str:
        """The endpoint requests go to, for messages: `endpoint_url`, or AWS's own for the region."""
        return self.endpoint_url or (f"AWS S3 ({self.region})" if self.region else "AWS S3")

    # Requests.

    def _head(self, location: Location) -> ObjectInfo | None:
        """A HEAD answer has no body, so its 404 does not say whether the bucket is missing: every caller
        lists the prefix next, which does."""
        try:
            answer = self._call("read", location, "head_object")
        except MissingObject:
            return None
        return ObjectInfo(answer["ETag"], answer["ContentLength"], answer.get("Metadata", {}).get("sha256"))

    def _open(self, location: Location, offset: int = 0, etag: str | None = None, end: int | None = None) -> Reading:
        ranged: dict[str, Any] = {"Range": f"bytes={offset}-{'' if end is None else end - 1}"} if offset or end else {}
        if etag is not None:
            ranged["IfMatch"] = etag
        answer = self._call("read", location, "get_object", **ranged)
        info = ObjectInfo(answer["ETag"], answer["ContentLength"], answer.get("Metadata", {}).get("sha256"))
        return Reading(info, answer["Body"].iter_chunks(READ_CHUNK), answer["Body"].close)

    def _put_bytes(self, location: Location, body: bytes, content_type: str) -> None:
        self._call("write", location, "put_object", Body=body, ContentType=content_type, **self._checksum_args())

    def _send(self, uploads: list[Upload], location: Location) -> None:
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
                        str(upload.source),
                        upload.target.bucket,
                        upload.target.key,
                        extra_args={"Metadata": {"sha256": upload.sha256}, **self._checksum_args()},
                    )
                    for upload in uploads
                ]
                for future in futures:
                    future.result()
        except (BotoCoreError, ClientError) as error:
            raise self._explain(error, "write", location) from error

    def _checksum_args(self) -> dict[str, Any]:
        return {"ChecksumAlgorithm": "CRC32"} if self.upload_checksums else {}

    def _list(self, location: Location, prefix: str, limit: int, token: str | None) -> tuple[list[str], str | None]:
        arguments: dict[str, Any] = {"Prefix": prefix, "MaxKeys": limit}
        if token is not None:
            arguments["ContinuationToken"] = token
        answer = self._call("list", location, "list_objects_v2", with_key=False, **arguments)
        keys = [entry["Key"] for entry in answer.get("Contents", [])]
        return keys, answer["NextContinuationToken"] if answer.get("IsTruncated") else None

    def _delete_keys(self, location: Location, keys: list[str]) -> list[tuple[str, str]]:
        batch = [{"Key": key} for key in keys]
        answer = self._call("delete", location, "delete_objects", Delete={"Objects": batch, "Quiet": True}, with_key=False)
        return [(failure.get("Key"), failure.get("Code")) for failure in answer.get("Errors", [])]

    def _call(self, action: str, location: Location, operation: str, *, with_key: bool = True, **arguments: Any) -> Any:
        """One S3 request. A missing object raises MissingObject, a changed one ChangedObject, anything else an S3Failure."""
        client = self.client  # first: says so if boto3 is not installed
        from botocore.exceptions import BotoCoreError, ClientError

        if with_key:
            arguments["Key"] = location.key
        try:
            return getattr(client, operation)(Bucket=location.bucket, **arguments)
        except (BotoCoreError, ClientError) as error:
            if operation in ("head_object", "get_object") and is_missing_object(error):
                raise MissingObject() from error
            if is_changed_object(error):
                raise ChangedObject() from error
            if operation == "head_object" and is_denied(error):
                # A HEAD's 403 cannot tell wrong credentials from a missing permission either; a listing's answer can.
                self._keys_under(location, limit=1)
            raise self._explain(error, action, location) from error

    def _classify(self, error: BaseException) -> tuple[Problem, str]:
        return problem_of(error)

    def _is_interruption(self, error: BaseException) -> bool:
        from botocore.exceptions import ConnectionError as BotocoreConnectionError
        from botocore.exceptions import HTTPClientError, IncompleteReadError
        from urllib3.exceptions import HTTPError as Urllib3Error

        return isinstance(
            error, (HTTPClientError, BotocoreConnectionError, IncompleteReadError, Urllib3Error, ConnectionError, TimeoutError)
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
