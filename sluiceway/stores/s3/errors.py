"""botocore's errors sorted into the object stores' kinds of problem (../objects/errors.py says each in one
sentence); and credentials kept out of botocore's request logs (DEBUG level: headers and canonical requests,
which carry the session token and the access key id).
"""

from __future__ import annotations

import re
from typing import Any

from ..objects.errors import LogRedaction, ObjectStoreFailure, Problem, Service

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


class S3Failure(ObjectStoreFailure):
    """An S3 request failed; the message says which of bucket, credentials, permission or endpoint is at fault."""


S3 = Service(
    name="S3",
    endpoint_setting="endpoint_url",
    credential_sources="AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ~/.aws/credentials or an instance role",
    failure=S3Failure,
)


def is_missing_object(error: BaseException) -> bool:
    return _code(error) in MISSING_OBJECT


def is_denied(error: BaseException) -> bool:
    return _code(error) in DENIED


def is_changed_object(error: BaseException) -> bool:
    """The object is not the one a partial download began with (If-Match failed), or the range is past its end."""
    return _code(error) in ("PreconditionFailed", "412", "InvalidRange", "416")


def problem_of(error: BaseException) -> tuple[Problem, str]:
    """What kind of problem a botocore exception is, and the server's error code if it gave one."""
    name = type(error).__name__
    code = _code(error)
    if code == "NoSuchBucket":
        return "no-bucket", code
    if code in MISSING_OBJECT:
        return "no-object", code
    if code in REJECTED_CREDENTIALS:
        return "rejected", code
    if code in DENIED:
        return "denied", code
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return "no-credentials", code
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ProxyConnectionError"):
        return "unreachable", code
    if name == "ReadTimeoutError":
        return "timeout", code
    return "other", code


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

_REDACTION = LogRedaction(LOGGERS_THAT_PRINT_REQUESTS, [_TOKEN_VALUE, _ACCESS_KEY_ID])


def keep_out_of_logs(*secrets: str | None) -> None:
    """Never let these values (and no session token or access key id) reach botocore's request logs."""
    _REDACTION.keep_out(*secrets)
