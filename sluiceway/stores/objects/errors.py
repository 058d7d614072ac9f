"""What went wrong with an object store request, said in one sentence; and credentials kept out of SDK logs.

An SDK's own messages name an operation and an error code. Each store sorts its SDK's exceptions
into the few kinds of `Problem` below, and `explain` turns a kind into a sentence that says what the
user has to fix (the bucket, the credentials, the permission, the endpoint) and names the bucket
and the endpoint: the same sentence for S3 and for OSS, so that one how-to table serves both. No
message is built from credentials. SDKs log request headers at DEBUG level (access key ids, session
tokens, signatures' inputs); `LogRedaction` filters the loggers that print them.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ...core.errors import SluicewayError

Problem = Literal["no-bucket", "no-object", "rejected", "denied", "no-credentials", "unreachable", "timeout", "damaged", "other"]


class ObjectStoreFailure(SluicewayError):
    """A request to an object store failed; the message says which of bucket, credentials, permission or endpoint is at fault."""


@dataclass(frozen=True)
class Service:
    """How a store's messages name its service and settings."""

    name: str
    """`S3`, `OSS`: as in "the S3 credentials"."""
    endpoint_setting: str
    """The setting that holds the endpoint, for "check ... and the network"."""
    credential_sources: str
    """Where credentials are looked for besides the settings, for "no ... credentials found"."""
    failure: type[ObjectStoreFailure] = ObjectStoreFailure


def missing(service: Service, uri: str, bucket: str, endpoint: str) -> ObjectStoreFailure:
    return service.failure(f"no artifact at {uri} (bucket '{bucket}' at {endpoint})")


def explain(
    service: Service,
    problem: Problem,
    *,
    action: str,
    uri: str,
    bucket: str,
    endpoint: str,
    read_timeout: float,
    code: str = "",
    name: str = "",
) -> ObjectStoreFailure:
    """The failure for a `problem` met while trying to `action` (read, write, list, delete) `uri`."""
    where = f"at {endpoint}"
    if problem == "no-bucket":
        message = f"bucket '{bucket}' does not exist {where}"
    elif problem == "no-object":
        return missing(service, uri, bucket, endpoint)
    elif problem == "rejected":
        message = (
            f"{endpoint} rejected the {service.name} credentials ({code}) for bucket '{bucket}': "
            "check the access key id, the secret and any session token"
        )
    elif problem == "denied":
        message = f"permission denied: the {service.name} credentials may not {action} {uri} (bucket '{bucket}' {where})"
    elif problem == "no-credentials":
        message = (
            f"no {service.name} credentials found for bucket '{bucket}' {where}: pass access_key_id and secret_access_key, "
            f"or set {service.credential_sources}"
        )
    elif problem == "unreachable":
        message = f"cannot connect to the {service.name} endpoint {endpoint} (bucket '{bucket}'): check {service.endpoint_setting} and the network"
    elif problem == "timeout":
        message = f"the {service.name} endpoint {endpoint} did not answer within {read_timeout:g} s (bucket '{bucket}')"
    elif problem == "damaged":
        message = f"could not {action} {uri} {where}: the data was damaged on the way (the server's checksum of what it got differs)"
    elif code:
        message = f"could not {action} {uri} {where}: the server answered {code}"
    else:
        message = f"could not {action} {uri} {where}: {name}"
    return service.failure(message)


class RedactCredentials(logging.Filter):
    """Replaces credentials in log records with ***: known values, and whatever the `patterns` find.

    Each pattern has two groups, what comes before a credential and the credential; the first is kept."""

    def __init__(self, patterns: Iterable[re.Pattern[str]]) -> None:
        super().__init__()
        self._patterns = list(patterns)
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *secrets: str | None) -> None:
        with self._lock:
            self._secrets.update(secret for secret in secrets if secret and len(secret) >= 4)

    def redact(self, text: str) -> str:
        for pattern in self._patterns:
            text = pattern.sub(r"\1***", text)
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class LogRedaction:
    """One filter on the loggers an SDK prints requests to, installed when the first store of that SDK is made."""

    def __init__(self, loggers: Iterable[str], patterns: Iterable[re.Pattern[str]]) -> None:
        self.loggers = tuple(loggers)
        self.filter = RedactCredentials(patterns)
        self._installed = False

    def keep_out(self, *secrets: str | None) -> None:
        """Never let these values (nor what the patterns find) reach the loggers' records."""
        self.filter.add(*secrets)
        if not self._installed:
            for name in self.loggers:
                logging.getLogger(name).addFilter(self.filter)
            self._installed = True
