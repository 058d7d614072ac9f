"""A TEST DOUBLE FOR ALIBABA CLOUD OSS. IT IS NOT OSS: an OSS-to-S3 translation layer in front of an S3 server.

No server that speaks OSS's protocol (OSS signatures, OSS's XML and headers) can be had where Sluiceway
is built (../shared/test-infrastructure.md). This gateway is a small HTTP server on 127.0.0.1 that
answers the part of the OSS REST API the OSS artifact store uses, in OSS's own terms, and does the
storage by translating each request into an S3 request to the server behind it (moto's, started
by tests/s3_servers.py). oss2, Alibaba Cloud's SDK, talks to it over real HTTP, unpatched:

- It checks every request's signature, OSS V4 (`OSS4-HMAC-SHA256`) or V1 (`OSS AccessKeyId:Signature`),
  computed as OSS's documentation defines them, with the identities it was given; a wrong secret gets
  OSS's 403 `SignatureDoesNotMatch`, an unknown key `InvalidAccessKeyId`, a clock more than 15 minutes
  off `RequestTimeTooSkewed`. An identity may be read-only: its writes get 403 `AccessDenied`.
- It maps OSS headers to S3's and back (`x-oss-meta-*`, `x-oss-copy-source`, `Content-MD5`, `Range`,
  `If-Match`, ...), gives ETags in OSS's upper case, drops S3's XML namespace, rewrites listings in
  OSS's shape (`Type`, URL-encoded keys with `encoding-type=url`), and turns S3 errors into OSS error
  XML (Code, Message, RequestId, HostId) with the same status; a HEAD's error goes in `x-oss-err`.
- It computes the CRC-64 (ECMA-182, as OSS does) of every object and part it stores and answers it in
  `x-oss-hash-crc64ecma`, so that oss2's end-to-end CRC checks run.
- It answers a range past the end of an object with the whole object unless the request asks for
  `x-oss-range-behavior: standard`, as OSS does.

Supported: PutObject, GetObject (with Range and conditions), HeadObject, DeleteObject, CopyObject,
DeleteMultipleObjects, ListObjectsV2, InitiateMultipartUpload, UploadPart, CompleteMultipartUpload,
AbortMultipartUpload, all path-style (oss2 uses the path style for an IP address endpoint). Anything
else is answered `501 NotImplemented`. Not reproduced: OSS's limits where S3's differ (the server
behind refuses parts under 5 MiB, OSS takes 100 KiB), virtual-hosted addressing, STS, ACLs and bucket
policies beyond read-only identities, and whatever real OSS does that its documentation does not say.

For tests it also records every request and can break things on purpose: cut a download's connection
after some bytes, damage an upload's bytes on the way in, or answer 503 for a while.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import re
import secrets
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from tests.s3_servers import REGION as S3_REGION
from tests.s3_servers import Credentials, S3Server

OSS_REGION = "cn-hangzhou"
MAX_SKEW_SECONDS = 15 * 60
S3_NAMESPACE = re.compile(rb'\sxmlns="http://s3\.amazonaws\.com/doc/2006-03-01/"')

# The query parameters a V1 signature covers (OSS's "sub-resources"); the others are not signed.
_V1_SUBRESOURCE_NAMES = (
    "acl uploads location cors logging website referer lifecycle delete append tagging objectMeta uploadId partNumber "
    "security-token position symlink restore policy stat encryption versions versioning versionId continuation-token "
    "x-oss-process response-content-type response-content-language response-expires response-cache-control "
    "response-content-disposition response-content-encoding"
)
V1_SUBRESOURCES = frozenset(_V1_SUBRESOURCE_NAMES.split())
# Request headers passed on to S3 as they are, and response headers passed back.
PASSED_REQUEST_HEADERS = (
    "content-type",
    "content-md5",
    "content-encoding",
    "content-disposition",
    "cache-control",
    "expires",
    "range",
    "if-modified-since",
    "if-unmodified-since",
)
CONDITIONS = ("if-match", "if-none-match")  # carry ETags, which OSS writes in upper case and S3 in lower
PASSED_RESPONSE_HEADERS = (
    "content-type",
    "content-range",
    "last-modified",
    "accept-ranges",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "expires",
)
# S3 error codes that OSS names differently.
ERROR_CODES = {"BadDigest": "InvalidDigest", "InvalidRequest": "InvalidArgument"}


def crc64(data: bytes, crc: int = 0) -> int:
    """CRC-64/ECMA-182 as OSS computes it (reflected, all ones in and out: the CRC of xz)."""
    return _crc64_function()(data, crc)


_crc64_cache: list[Any] = []


def _crc64_function() -> Any:
    if not _crc64_cache:
        import crcmod  # comes with oss2

        _crc64_cache.append(crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True))
    return _crc64_cache[0]


@dataclass(frozen=True)
class OssIdentity:
    """Who may call the gateway, and whether they may write."""

    access_key_id: str
    secret: str
    may_write: bool = True


@dataclass
class Recorded:
    """One request as the gateway saw it, and what it answered."""

    method: str
    bucket: str
    key: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int = 0
    body_bytes: int = 0


class OssError(Exception):
    """An OSS error answer."""

    def __init__(self, status: int, code: str, message: str, **details: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    length: int | None = None  # HEAD: the object's length, no body


class OssGateway:
    """The test double: an OSS endpoint on 127.0.0.1 whose storage is an S3 server. See the module's docstring."""

    def __init__(self, s3: S3Server, identities: list[OssIdentity], region: str = OSS_REGION) -> None:
        self.s3 = s3
        self.identities = {identity.access_key_id: identity for identity in identities}
        self.region = region
        self.requests: list[Recorded] = []
        self._crcs: dict[tuple[str, str, str], int] = {}  # (bucket, key, S3 ETag): the object's CRC-64
        self._lock = threading.Lock()
        self._cuts: list[tuple[int, str]] = []  # break the next downloads longer than this, of keys that end so, after this many bytes
        self._damage = 0  # damage the next uploads' bytes
        self._unavailable = 0  # answer the next requests 503
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.gateway = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, name="oss-gateway", daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> OssGateway:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # Faults, for tests.

    def reset(self) -> None:
        """Forget the requests seen, and any fault not yet used: each test starts from a well-behaved gateway."""
        with self._lock:
            self.requests.clear()
            self._cuts.clear()
            self._damage = self._unavailable = 0

    def cut_downloads(self, after_bytes: int, count: int = 1, key_suffix: str = "") -> None:
        """Drop the connection of the next `count` GETs whose body is longer than `after_bytes` (of a key ending with
        `key_suffix`), after that many bytes."""
        with self._lock:
            self._cuts.extend([(after_bytes, key_suffix)] * count)

    def damage_uploads(self, count: int = 1) -> None:
        """Flip a byte of the next `count` uploaded bodies (objects or parts) as they arrive: what is stored, and its CRC, differ."""
        with self._lock:
            self._damage += count

    def be_unavailable(self, count: int) -> None:
        """Answer the next `count` requests 503 ServiceUnavailable."""
        with self._lock:
            self._unavailable += count

    def gets(self, key_suffix: str = "") -> list[Recorded]:
        """The GETs of objects whose key ends with `key_suffix`, in order."""
        return [r for r in self.requests if r.method == "GET" and r.key and r.key.endswith(key_suffix)]

    # Authentication: OSS V4 and V1 signatures, as OSS's documentation defines them.

    def authenticate(self, method: str, bucket: str, key: str, query: list[tuple[str, str]], headers: dict[str, str]) -> OssIdentity:
        authorization = headers.get("authorization", "")
        if authorization.startswith("OSS4-HMAC-SHA256 "):
            return self._verify_v4(method, bucket, key, query, headers, authorization)
        if authorization.startswith("OSS "):
            return self._verify_v1(method, bucket, key, query, headers, authorization)
        if not authorization:
            raise OssError(403, "AccessDenied", "You have no right to access this object because of bucket acl.")
        raise OssError(400, "InvalidArgument", "Authorization header is invalid.")

    def _identity(self, access_key_id: str) -> OssIdentity:
        identity = self.identities.get(access_key_id)
        if identity is None:
            raise OssError(
                403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records.", OSSAccessKeyId=access_key_id
            )
        return identity

    def _verify_v1(
        self, method: str, bucket: str, key: str, query: list[tuple[str, str]], headers: dict[str, str], authorization: str
    ) -> OssIdentity:
        access_key_id, _, signature = authorization.removeprefix("OSS ").partition(":")
        identity = self._identity(access_key_id)
        date = headers.get("x-oss-date") or headers.get("date", "")
        try:
            when = parsedate_to_datetime(date)
        except (TypeError, ValueError):
            raise OssError(403, "AccessDenied", "OSS authentication requires a valid Date.") from None
        _check_skew(when)
        oss_headers = "".join(f"{name}:{value}\n" for name, value in _oss_headers(headers))
        resource = f"/{bucket}/{key}" if bucket else "/"
        signed = sorted((name, value) for name, value in query if name in V1_SUBRESOURCES)
        if signed:
            resource += "?" + "&".join(f"{name}={value}" if value else name for name, value in signed)
        string_to_sign = "\n".join([method, headers.get("content-md5", ""), headers.get("content-type", ""), date, oss_headers + resource])
        expected = base64.b64encode(hmac.new(identity.secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()).decode()
        if not hmac.compare_digest(expected, signature):
            raise _signature_error(access_key_id, signature, StringToSign=string_to_sign)
        return identity

    def _verify_v4(
        self, method: str, bucket: str, key: str, query: list[tuple[str, str]], headers: dict[str, str], authorization: str
    ) -> OssIdentity:
        fields = dict(part.strip().partition("=")[::2] for part in authorization.removeprefix("OSS4-HMAC-SHA256 ").split(","))
        credential, signature = fields.get("Credential", ""), fields.get("Signature", "")
        access_key_id, _, scope = credential.partition("/")
        identity = self._identity(access_key_id)
        timestamp = headers.get("x-oss-date", "")
        try:
            when = datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            raise OssError(403, "AccessDenied", "V4 signatures need an x-oss-date header.") from None
        _check_skew(when)
        day, region, product, terminator = [*scope.split("/"), "", "", ""][:4]
        if day != timestamp[:8] or product != "oss" or terminator != "aliyun_v4_request":
            raise OssError(400, "InvalidArgument", f"Invalid credential scope {scope!r} in the Authorization header.")
        additional = sorted(name.strip().lower() for name in fields.get("AdditionalHeaders", "").split(";") if name.strip())
        canonical_uri = _v4_encode(f"/{bucket}/{key}" if bucket else "/", keep_slashes=True)
        canonical_query = "&".join(
            f"{name}={value}" if value else name for name, value in sorted((_v4_encode(name), _v4_encode(value)) for name, value in query)
        )
        signed_headers = sorted(
            (name, value.strip())
            for name, value in headers.items()
            if name.startswith("x-oss-") or name in ("content-type", "content-md5") or name in additional
        )
        canonical_request = "\n".join(
            [
                method,
                canonical_uri,
                canonical_query,
                "".join(f"{name}:{value}\n" for name, value in signed_headers),
                ";".join(additional),
                headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
            ]
        )
        own_scope = f"{day}/{self.region}/oss/aliyun_v4_request"
        string_to_sign = "\n".join(["OSS4-HMAC-SHA256", timestamp, own_scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
        signing_key = ("aliyun_v4" + identity.secret).encode()
        for part in (day, self.region, "oss", "aliyun_v4_request"):
            signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if region != self.region or not hmac.compare_digest(expected, signature):
            raise _signature_error(access_key_id, signature, CanonicalRequest=canonical_request, StringToSign=string_to_sign)
        return identity

    # Requests, translated.

    def handle(self, method: str, bucket: str, key: str, query: list[tuple[str, str]], headers: dict[str, str], body: bytes) -> Answer:
        with self._lock:
            if self._unavailable:
                self._unavailable -= 1
                raise OssError(503, "ServiceUnavailable", "Please reduce your request rate.")
        identity = self.authenticate(method, bucket, key, query, headers)
        if not bucket:
            raise OssError(501, "NotImplemented", "This test double does not implement service-level requests.")
        params = dict(query)
        if method in ("PUT", "POST", "DELETE") and not identity.may_write:
            raise OssError(403, "AccessDenied", "You have no right to access this object because of bucket acl.")
        if not key:
            if method == "GET" and params.get("list-type") == "2":
                return self._list_v2(bucket, params)
            if method == "POST" and "delete" in params:
                return self._delete_many(bucket, params, headers, body)
            raise OssError(501, "NotImplemented", f"This test double does not implement {method} on a bucket with {sorted(params)}.")
        unsupported = set(params) - {"uploadId", "partNumber", "uploads"}
        if unsupported:
            raise OssError(501, "NotImplemented", f"This test double does not implement {method} on an object with {sorted(unsupported)}.")
        if method == "PUT" and "uploadId" in params:
            return self._put(bucket, key, params, headers, body, part=True)
        if method == "PUT":
            return self._put(bucket, key, params, headers, body, part=False)
        if method == "POST" and "uploads" in params:
            return self._xml_answer(self._s3("POST", bucket, key, {"uploads": ""}, _s3_headers(headers), b""))
        if method == "POST" and "uploadId" in params:
            return self._complete(bucket, key, params["uploadId"], body)
        if method == "DELETE":
            answer = self._s3("DELETE", bucket, key, {k: v for k, v in params.items() if k == "uploadId"}, {}, b"")
            return Answer(answer[0]) if answer[0] < 300 else self._xml_answer(answer)
        if method in ("GET", "HEAD"):
            return self._get(method, bucket, key, headers)
        raise OssError(501, "NotImplemented", f"This test double does not implement {method} on an object.")

    def _put(self, bucket: str, key: str, params: dict[str, str], headers: dict[str, str], body: bytes, *, part: bool) -> Answer:
        with self._lock:
            if self._damage and body:
                self._damage -= 1
                body = body[:-1] + bytes([body[-1] ^ 0xFF])
        s3_headers = _s3_headers(headers)
        if not part and "x-oss-copy-source" in headers:
            source = headers["x-oss-copy-source"]
            s3_headers["x-amz-copy-source"] = source if source.startswith("/") else "/" + source
            for name, value in headers.items():
                if name.startswith("x-oss-copy-source-if-") or name == "x-oss-metadata-directive":
                    s3_headers["x-amz-" + name.removeprefix("x-oss-")] = _lower(value)
        query = {name: params[name] for name in ("partNumber", "uploadId") if part}
        status, answer_headers, answer_body = self._s3("PUT", bucket, key, query, s3_headers, body)
        if status >= 300:
            return self._xml_answer((status, answer_headers, answer_body))
        if "x-amz-copy-source" in s3_headers:
            return self._xml_answer((status, answer_headers, answer_body))
        etag = answer_headers.get("etag", "")
        result = Answer(status, {"ETag": etag.upper()}, b"")
        crc = crc64(body)
        if not part:
            self._crcs[bucket, key, etag.strip('"')] = crc
        result.headers["x-oss-hash-crc64ecma"] = str(crc)
        return result

    def _complete(self, bucket: str, key: str, upload_id: str, body: bytes) -> Answer:
        request = ET.fromstring(body)
        s3_body = ET.Element("CompleteMultipartUpload")
        for part in request.findall("Part"):
            node = ET.SubElement(s3_body, "Part")
            ET.SubElement(node, "PartNumber").text = part.findtext("PartNumber")
            ET.SubElement(node, "ETag").text = _lower(part.findtext("ETag") or "")
        answer = self._s3("POST", bucket, key, {"uploadId": upload_id}, {}, ET.tostring(s3_body))
        result = self._xml_answer(answer)
        if answer[0] >= 300:
            return result
        etag = ET.fromstring(S3_NAMESPACE.sub(b"", answer[2])).findtext("ETag") or ""
        result.headers["ETag"] = etag.upper()
        crc = self._crc_of(bucket, key, etag.strip('"'))
        if crc is not None:
            result.headers["x-oss-hash-crc64ecma"] = str(crc)
        return result

    def _get(self, method: str, bucket: str, key: str, headers: dict[str, str]) -> Answer:
        s3_headers = _s3_headers(headers)
        status, answer_headers, body = self._s3(method, bucket, key, {}, s3_headers, b"")
        if status == 416 and headers.get("x-oss-range-behavior", "").lower() != "standard":
            s3_headers.pop("range")  # OSS answers an invalid range with the whole object, unless asked not to
            status, answer_headers, body = self._s3(method, bucket, key, {}, s3_headers, b"")
        if status >= 300:
            if status == 404 and method == "HEAD":  # S3 does not say which is missing: ask
                exists = self._s3("HEAD", bucket, "", {}, {}, b"")[0] < 300
                raise OssError(404, "NoSuchKey" if exists else "NoSuchBucket", "The specified key does not exist.")
            return self._xml_answer((status, answer_headers, body))
        etag = answer_headers.get("etag", "").strip('"')
        result = Answer(status, _oss_response_headers(answer_headers))
        if method == "GET" and status == 200 and (bucket, key, etag) not in self._crcs:
            self._crcs[bucket, key, etag] = crc64(body)
        crc = self._crc_of(bucket, key, etag) if method == "HEAD" else self._crcs.get((bucket, key, etag))
        if crc is not None:
            result.headers["x-oss-hash-crc64ecma"] = str(crc)
        if method == "HEAD":
            result.length = int(answer_headers.get("content-length", "0"))
        else:
            result.body = body
        return result

    def _crc_of(self, bucket: str, key: str, etag: str) -> int | None:
        """The CRC-64 of an object the gateway has not seen whole (written by S3 directly, or in parts): read it."""
        if (bucket, key, etag) not in self._crcs:
            status, answer_headers, body = self._s3("GET", bucket, key, {}, {}, b"")
            if status < 300 and answer_headers.get("etag", "").strip('"') == etag:
                self._crcs[bucket, key, etag] = crc64(body)
        return self._crcs.get((bucket, key, etag))

    def _list_v2(self, bucket: str, params: dict[str, str]) -> Answer:
        query = {
            name: params[name] for name in ("prefix", "delimiter", "max-keys", "continuation-token", "start-after") if params.get(name)
        }
        status, headers, body = self._s3("GET", bucket, "", {"list-type": "2", **query}, {}, b"")
        if status >= 300:
            return self._xml_answer((status, headers, body))
        s3 = ET.fromstring(S3_NAMESPACE.sub(b"", body))
        encode = params.get("encoding-type") == "url"

        def text(value: str | None) -> str:
            return quote(value or "", safe="/") if encode else value or ""

        oss = ET.Element("ListBucketResult")
        for name in ("Name", "Prefix", "MaxKeys", "Delimiter", "StartAfter", "ContinuationToken"):
            value = s3.findtext(name)
            if value is not None:
                ET.SubElement(oss, name).text = value if name in ("Name", "MaxKeys") else text(value)
        if encode:
            ET.SubElement(oss, "EncodingType").text = "url"
        ET.SubElement(oss, "IsTruncated").text = s3.findtext("IsTruncated") or "false"
        if s3.findtext("NextContinuationToken"):
            ET.SubElement(oss, "NextContinuationToken").text = text(s3.findtext("NextContinuationToken"))
        ET.SubElement(oss, "KeyCount").text = s3.findtext("KeyCount") or "0"
        for entry in s3.findall("Contents"):
            etag = (entry.findtext("ETag") or "").upper()
            contents = ET.SubElement(oss, "Contents")
            ET.SubElement(contents, "Key").text = text(entry.findtext("Key"))
            ET.SubElement(contents, "LastModified").text = entry.findtext("LastModified")
            ET.SubElement(contents, "ETag").text = etag
            ET.SubElement(contents, "Type").text = "Multipart" if "-" in etag else "Normal"
            ET.SubElement(contents, "Size").text = entry.findtext("Size")
            ET.SubElement(contents, "StorageClass").text = "Standard"
        for prefix in s3.findall("CommonPrefixes"):
            ET.SubElement(ET.SubElement(oss, "CommonPrefixes"), "Prefix").text = text(prefix.findtext("Prefix"))
        return _xml(200, oss)

    def _delete_many(self, bucket: str, params: dict[str, str], headers: dict[str, str], body: bytes) -> Answer:
        """OSS's DeleteMultipleObjects: S3's body (less the namespace) and answer; keys URL-encoded with encoding-type=url."""
        request = ET.fromstring(body)
        keys = [node.findtext("Key") or "" for node in request.findall("Object")]
        quiet = (request.findtext("Quiet") or "false").lower() == "true"
        s3_body = ET.Element("Delete")
        ET.SubElement(s3_body, "Quiet").text = "false"
        for key in keys:
            ET.SubElement(ET.SubElement(s3_body, "Object"), "Key").text = key
        data = ET.tostring(s3_body)
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        status, answer_headers, answer_body = self._s3("POST", bucket, "", {"delete": ""}, {"content-md5": md5}, data)
        if status >= 300:
            return self._xml_answer((status, answer_headers, answer_body))
        s3 = ET.fromstring(S3_NAMESPACE.sub(b"", answer_body))
        oss = ET.Element("DeleteResult")
        encode = params.get("encoding-type") == "url"
        if encode:
            ET.SubElement(oss, "EncodingType").text = "url"
        if not quiet:  # OSS lists what it deleted; keys S3 could not delete are left out
            for deleted in s3.findall("Deleted"):
                key = deleted.findtext("Key") or ""
                ET.SubElement(ET.SubElement(oss, "Deleted"), "Key").text = quote(key, safe="/") if encode else key
        return _xml(200, oss)

    def _xml_answer(self, answer: tuple[int, dict[str, str], bytes]) -> Answer:
        """An S3 answer with an XML body, in OSS's terms: an error as OSS error XML, anything else without S3's namespace."""
        status, _, body = answer
        if status == 304:
            return Answer(304)
        if status >= 300:
            code, message = "", ""
            if body:
                error = ET.fromstring(S3_NAMESPACE.sub(b"", body))
                code, message = error.findtext("Code") or "", error.findtext("Message") or ""
            code = ERROR_CODES.get(code, code) or {404: "NoSuchKey", 403: "AccessDenied", 412: "PreconditionFailed"}.get(status, "")
            raise OssError(status, code or "InternalError", message or http.client.responses.get(status, ""))
        return Answer(status, {"Content-Type": "application/xml"}, S3_NAMESPACE.sub(b"", body))

    def _s3(
        self, method: str, bucket: str, key: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """One request to the S3 server behind, signed with SigV4 (moto ignores the signature, but treats an unsigned
        request as anonymous)."""
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials as BotoCredentials

        path = f"/{bucket}/{quote(key, safe='/~')}" if key else f"/{bucket}"
        query_string = "&".join(f"{quote(name, safe='~')}={quote(value, safe='~')}" for name, value in sorted(query.items()))
        url = self.s3.endpoint_url + path + (f"?{query_string}" if query_string else "")
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        admin: Credentials = self.s3.admin
        S3SigV4Auth(BotoCredentials(admin.access_key_id, admin.secret_access_key), "s3", S3_REGION).add_auth(request)
        host, port = urlsplit(self.s3.endpoint_url).netloc.split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            connection.request(
                method, path + (f"?{query_string}" if query_string else ""), body=body or None, headers=dict(request.headers)
            )
            response = connection.getresponse()
            data = response.read()
            return response.status, {name.lower(): value for name, value in response.getheaders()}, data
        finally:
            connection.close()

    def take_cut(self, key: str, length: int) -> int | None:
        """How many bytes of a download of `length` bytes to send before dropping the connection, if one is to break."""
        with self._lock:
            for index, (after, key_suffix) in enumerate(self._cuts):
                if length > after and key.endswith(key_suffix):
                    del self._cuts[index]
                    return after
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "oss-gateway/0.1 (Sluiceway test double, not OSS)"

    def log_message(self, message: str, *args: Any) -> None:  # quiet: tests read `requests` instead
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        gateway: OssGateway = self.server.gateway  # type: ignore[attr-defined]
        request_id = secrets.token_hex(12).upper()
        split = urlsplit(self.path)
        bucket, _, key = unquote(split.path).lstrip("/").partition("/")
        query = parse_qsl(split.query, keep_blank_values=True)
        headers = {name.lower(): value for name, value in self.headers.items()}
        record = Recorded(method, bucket, key, dict(query), headers)
        gateway.requests.append(record)
        body = self._body()
        try:
            answer = gateway.handle(method, bucket, key, query, headers, body)
        except OssError as error:
            answer = _error_answer(error, request_id, self.headers.get("host", ""), bucket, key, head=method == "HEAD")
        record.status = answer.status
        record.body_bytes = self._send(method, key, answer, request_id, gateway)

    def _body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _send(self, method: str, key: str, answer: Answer, request_id: str, gateway: OssGateway) -> int:
        """Send the answer (Server and Date come with the status line); the number of body bytes sent."""
        self.send_response(answer.status)
        length = answer.length if answer.length is not None else len(answer.body)
        for name, value in {"x-oss-request-id": request_id, "Content-Length": str(length), **answer.headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if method == "HEAD" or not answer.body:
            return 0
        cut = gateway.take_cut(key, len(answer.body)) if method == "GET" and answer.status in (200, 206) else None
        if cut is None:
            self.wfile.write(answer.body)
            return len(answer.body)
        self.wfile.write(answer.body[:cut])  # then the connection drops, as a broken network would
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)
        return cut


def _check_skew(when: datetime) -> None:
    if abs(time.time() - when.timestamp()) > MAX_SKEW_SECONDS:
        raise OssError(403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.")


def _oss_headers(headers: dict[str, str]) -> list[tuple[str, str]]:
    return sorted((name, value.strip()) for name, value in headers.items() if name.startswith("x-oss-"))


def _v4_encode(text: str, keep_slashes: bool = False) -> str:
    """URI encoding as V4 signatures use it: everything but A-Z a-z 0-9 - _ . ~ (and / in a path) as %XX, UTF-8."""
    return quote(text, safe="-_.~" + ("/" if keep_slashes else ""))


def _signature_error(access_key_id: str, provided: str, **details: str) -> OssError:
    return OssError(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        OSSAccessKeyId=access_key_id,
        SignatureProvided=provided,
        **details,
    )


def _s3_headers(headers: dict[str, str]) -> dict[str, str]:
    """The request headers S3 should see: plain HTTP ones, conditions with S3's ETags, and user metadata under its S3 name."""
    mapped = {name: value for name, value in headers.items() if name in PASSED_REQUEST_HEADERS}
    mapped.update({name: _lower(headers[name]) for name in CONDITIONS if name in headers})
    mapped.update(
        {"x-amz-meta-" + name.removeprefix("x-oss-meta-"): value for name, value in headers.items() if name.startswith("x-oss-meta-")}
    )
    return mapped


def _oss_response_headers(headers: dict[str, str]) -> dict[str, str]:
    mapped = {name.title(): value for name, value in headers.items() if name in PASSED_RESPONSE_HEADERS}
    etag = headers.get("etag", "").upper()
    mapped["ETag"] = etag
    mapped["x-oss-object-type"] = "Multipart" if "-" in etag else "Normal"
    mapped["x-oss-storage-class"] = "Standard"
    mapped.update(
        {"x-oss-meta-" + name.removeprefix("x-amz-meta-"): value for name, value in headers.items() if name.startswith("x-amz-meta-")}
    )
    return mapped


def _lower(value: str) -> str:
    """ETags as S3 writes them (OSS's are the same hex digits in upper case)."""
    return value.lower()


def _xml(status: int, root: ET.Element) -> Answer:
    return Answer(status, {"Content-Type": "application/xml"}, b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root))


def _error_answer(error: OssError, request_id: str, host: str, bucket: str, key: str, *, head: bool) -> Answer:
    root = ET.Element("Error")
    for name, value in (("Code", error.code), ("Message", error.message), ("RequestId", request_id), ("HostId", host)):
        ET.SubElement(root, name).text = value
    if error.code == "NoSuchBucket":
        ET.SubElement(root, "BucketName").text = bucket
    elif error.code == "NoSuchKey":
        ET.SubElement(root, "Key").text = key
    for name, value in error.details.items():
        ET.SubElement(root, name).text = value
    xml = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)
    if head:  # a HEAD answer has no body: OSS puts the error in a header
        return Answer(error.status, {"x-oss-err": base64.b64encode(xml).decode(), "Content-Type": "application/xml"}, b"", length=0)
    return Answer(error.status, {"Content-Type": "application/xml"}, xml)


@dataclass(frozen=True)
class OssServer:
    """The test double running: where it answers, who may use it, and the S3 server whose bucket it serves."""

    gateway: OssGateway
    admin: Credentials
    reader: Credentials
    region: str = OSS_REGION

    @property
    def endpoint(self) -> str:
        return self.gateway.endpoint

    @property
    def s3(self) -> S3Server:
        return self.gateway.s3

    @property
    def bucket(self) -> str:
        return self.gateway.s3.bucket

    def store_settings(self, credentials: Credentials | None = None) -> dict[str, Any]:
        """The OssArtifactStore settings for this gateway."""
        credentials = credentials or self.admin
        return {
            "endpoint": self.endpoint,
            "region": self.region,
            "access_key_id": credentials.access_key_id,
            "secret_access_key": credentials.secret_access_key,
        }


@contextmanager
def oss_gateway(s3: S3Server) -> Iterator[OssServer]:
    """The OSS test double in front of `s3`, with an administrator and a read-only identity of its own."""
    admin = Credentials("LTAI-sluiceway-admin", "oss-admin-" + secrets.token_hex(12))
    reader = Credentials("LTAI-sluiceway-reader", "oss-reader-" + secrets.token_hex(12))
    gateway = OssGateway(
        s3,
        [
            OssIdentity(admin.access_key_id, admin.secret_access_key),
            OssIdentity(reader.access_key_id, reader.secret_access_key, may_write=False),
        ],
    ).start()
    try:
        yield OssServer(gateway, admin, reader)
    finally:
        gateway.stop()
