"""oss2's errors sorted into the object stores' kinds of problem (../objects/errors.py says each in one sentence);
and credentials kept out of oss2's logs: at DEBUG level it prints every request's headers (the Authorization
header names the access key id, `x-oss-security-token` carries the session token), and at INFO level the
body of every error, which for a rejected signature names the access key id (`<OSSAccessKeyId>`).
"""

from __future__ import annotations

import re

from ..objects.errors import LogRedaction, ObjectStoreFailure, Problem, Service

REJECTED_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "SecurityTokenExpired",
    "InvalidSecurityToken",
    "InvalidAuthorizationHeader",
}
DENIED = {"AccessDenied", "AccessForbidden"}


class OssFailure(ObjectStoreFailure):
    """An OSS request failed; the message says which of bucket, credentials, permission or endpoint is at fault."""


OSS = Service(
    name="OSS",
    endpoint_setting="the endpoint",
    credential_sources="OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET (and OSS_SESSION_TOKEN for STS credentials)",
    failure=OssFailure,
)


def code_of(error: BaseException) -> str:
    """The OSS error code of an oss2 exception (`NoSuchKey`, ...), or its HTTP status when the answer had none."""
    code = getattr(error, "code", "") or ""
    status = getattr(error, "status", 0) or 0
    return str(code or (status if status > 0 else ""))


def status_of(error: BaseException) -> int:
    status = getattr(error, "status", 0)
    return status if isinstance(status, int) else 0


def problem_of(error: BaseException) -> tuple[Problem, str]:
    """What kind of problem an oss2 exception is, and the server's error code if it gave one."""
    import requests
    from oss2.exceptions import InconsistentError, RequestError

    code = code_of(error)
    if isinstance(error, InconsistentError):
        return "damaged", code
    if isinstance(error, RequestError):
        cause = getattr(error, "exception", None)
        if isinstance(cause, requests.exceptions.ReadTimeout):
            return "timeout", ""
        if isinstance(cause, requests.exceptions.ConnectionError):
            return "unreachable", ""
        return "other", ""
    if code == "NoSuchBucket":
        return "no-bucket", code
    if code == "NoSuchKey":
        return "no-object", code
    if code in REJECTED_CREDENTIALS:
        return "rejected", code
    if code in DENIED or code == "403":
        return "denied", code
    return "other", code


# Every module of oss2 logs through its own logger; a filter on a parent logger would not see their records.
LOGGERS_THAT_PRINT_REQUESTS = (
    "oss2",
    "oss2.api",
    "oss2.auth",
    "oss2.http",
    "oss2.credentials",
    "oss2.exceptions",
    "oss2.models",
    "oss2.resumable",
    "oss2.utils",
)
_TOKEN_VALUE = re.compile(r"(?i)((?:x-oss-)?security-token['\"]?\s*[:=,]\s*b?['\"]?)([^'\"\s,}&]+)")
_V4_ACCESS_KEY_ID = re.compile(r"(Credential=)([^/'\"\s,]+)")
_V1_ACCESS_KEY_ID = re.compile(r"(['\"]OSS )([^:'\"\s]+)(?=:)")
_ERROR_ACCESS_KEY_ID = re.compile(r"(<OSSAccessKeyId>|'OSSAccessKeyId': ')([^<']+)")

_REDACTION = LogRedaction(LOGGERS_THAT_PRINT_REQUESTS, [_TOKEN_VALUE, _V4_ACCESS_KEY_ID, _V1_ACCESS_KEY_ID, _ERROR_ACCESS_KEY_ID])


def keep_out_of_logs(*secrets: str | None) -> None:
    """Never let these values (and no session token or access key id) reach oss2's logs."""
    _REDACTION.keep_out(*secrets)
