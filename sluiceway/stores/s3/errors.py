"""What went wrong with an S3 request, said in one sentence; and credentials kept out of logs.

botocore's own messages name an operation and an error code; these say what the user has to
fix (the bucket, the credentials, the permission, the endpoint) and name the bucket and the
endpoint. No message is built from credentials, and botocore's request logs (DEBUG level:
headers and canonical requests, which carry the session token and the access key id) are
redacted by a filter installed on the loggers that print them.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from ...core.errors import SluicewayError

REJECTED_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
    "AuthorizationHeaderMalformed",
}
DENIED = {"AccessDenied", "AllAccessDisabled", "403", "Forbidden"}
MISSING_OBJECT = {"NoSuchKey", "404", "NotFound"}


class S3Failure(SluicewayError):
    """An S3 request failed; the message says which of bucket, credentials, permission or endpoint is at fault."""


def is_missing_object(error: BaseException) -> bool:
    return _code(error) in MISSING_OBJECT


def is_denied(error: BaseException) -> bool:
    return _code(error) in DENIED


def missing(uri: str, bucket: str, endpoint: str) -> S3Failure:
    return S3Failure(f"no artifact at {uri} (bucket '{bucket}' at {endpoint})")


def is_changed_object(error: BaseException) -> bool:
    """The object is not the one a partial download began with (If-Match failed), or the range is past its end."""
    return _code(error) in ("PreconditionFailed", "412", "InvalidRange", "416")


def explain(error: BaseException, *, action: str, uri: str, bucket: str, endpoint: str, read_timeout: float) -> S3Failure:
    """An S3Failure for a botocore exception raised while trying to `action` (read, write, list, delete) `uri`."""
    name = type(error).__name__
    code = _code(error)
    where = f"at {endpoint}"
    if code == "NoSuchBucket":
        message = f"bucket '{bucket}' does not exist {where}"
    elif code in MISSING_OBJECT:
        return missing(uri, bucket, endpoint)
    elif code in REJECTED_CREDENTIALS:
        message = f"{endpoint} rejected the S3 credentials ({code}) for bucket '{bucket}': check the access key id, the secret and any session token"
    elif code in DENIED:
        message = f"permission denied: the S3 credentials may not {action} {uri} (bucket '{bucket}' {where})"
    elif name in ("NoCredentialsError", "PartialCredentialsError"):
        message = (
            f"no S3 credentials found for bucket '{bucket}' {where}: pass access_key_id and secret_access_key, "
            "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ~/.aws/credentials or an instance role"
        )
    elif name in ("EndpointConnectionError", "ConnectTimeoutError", "ProxyConnectionError"):
        message = f"cannot connect to the S3 endpoint {endpoint} (bucket '{bucket}'): check endpoint_url and the network"
    elif name == "ReadTimeoutError":
        message = f"the S3 endpoint {endpoint} did not answer within {read_timeout:g} s (bucket '{bucket}')"
    elif code:
        message = f"could not {action} {uri} {where}: the server answered {code}"
    else:
        message = f"could not {action} {uri} {where}: {name}"
    return S3Failure(message)


def _code(error: BaseException) -> str:
    response: Any = getattr(error, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", "") or response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


# botocore logs each request's headers (botocore.endpoint) and canonical request (botocore.auth) at
# DEBUG level, session token and access key id included; an error body can echo them (botocore.parsers).
LOGGERS_THAT_PRINT_REQUESTS = ("botocore.endpoint", "botocore.auth", "botocore.parsers", "botocore.awsrequest")
_TOKEN_VALUE = re.compile(r"(?i)(x-amz-security-token['\"]?\s*[:=,]\s*b?['\"]?)([^'\"\s,}]+)")
_ACCESS_KEY_ID = re.compile(r"(Credential=)([^/'\"\s,]+)")


class RedactCredentials(logging.Filter):
    """Replaces credentials in log records with ***: known values, and whatever sits in a token header or a Credential= field."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *secrets: str | None) -> None:
        with self._lock:
            self._secrets.update(secret for secret in secrets if secret and len(secret) >= 4)

    def redact(self, text: str) -> str:
        text = _ACCESS_KEY_ID.sub(r"\1***", _TOKEN_VALUE.sub(r"\1***", text))
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACTOR = RedactCredentials()
_installed = False


def keep_out_of_logs(*secrets: str | None) -> None:
    """Never let these values (and no session token or access key id) reach botocore's request logs."""
    global _installed
    _REDACTOR.add(*secrets)
    if not _installed:
        for name in LOGGERS_THAT_PRINT_REQUESTS:
            logging.getLogger(name).addFilter(_REDACTOR)
        _installed = True
