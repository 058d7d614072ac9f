"""What only the OSS store does: OSS signatures, resumed downloads, CRC-64 checks, errors that say what is wrong,
credentials kept secret; and a pipeline run on MySQL and OSS from the command line.

NO REAL OSS IS REACHED: oss2 talks to tests/oss_gateway.py, a TEST DOUBLE that speaks OSS's protocol (and
checks its signatures) in front of moto's S3 server. What every store does is in test_artifact_stores.py.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from sluiceway.core import SluicewayError
from sluiceway.stores.oss import FOLDER_MANIFEST, OssArtifactStore
from tests.conftest import REPO
from tests.databases import scratch_database
from tests.oss_gateway import OssIdentity, OssServer, crc64
from tests.s3_servers import Scratch
from tests.stores.test_artifact_stores import BIG, MiB, each_request, make_tree, oss_store, s3_store, tree, upload_big_object

SECRET = "OSS-S3CR3T-must-never-be-printed-5d1e"
TOKEN = "OSS-T0KEN-must-never-be-printed-0b7a"
KEY_ID = "LTAI-key-id-must-never-be-printed"


@pytest.fixture
def oss(oss_test_double: OssServer) -> OssServer:
    oss_test_double.gateway.reset()
    return oss_test_double


@pytest.fixture
def place(oss: OssServer) -> Scratch:
    return Scratch(oss.s3, scheme="oss")


# Layout and signatures.


def test_a_folder_is_laid_out_as_the_s3_store_lays_it_out(oss: OssServer, place: Scratch, tmp_path: Path):
    """The same objects, metadata and manifest: a folder written through either store reads the same through the other."""
    source = make_tree(tmp_path / "d", {"a.txt": b"a", "sub/b.txt": b"b"}, empty_folders=("void",))
    oss_store(oss).upload(source, place.uri("ds"))
    assert place.keys() == [f"ds/{FOLDER_MANIFEST}", "ds/a.txt", "ds/sub/b.txt"]
    client = oss.s3.client()
    assert client.head_object(Bucket=place.bucket, Key=place.key("ds/a.txt"))["Metadata"] == {
        "sha256": "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
    }
    s3 = s3_store(oss.s3)
    s3.download(place.uri("ds").replace("oss://", "s3://"), tmp_path / "through-s3")
    assert tree(tmp_path / "through-s3") == tree(source)

    s3.upload(source, place.uri("from-s3").replace("oss://", "s3://"))
    oss_store(oss).download(place.uri("from-s3"), tmp_path / "through-oss")
    assert tree(tmp_path / "through-oss") == tree(source)


def test_requests_carry_v4_signatures_by_default_and_v1_on_request(oss: OssServer, place: Scratch, tmp_path: Path):
    (tmp_path / "f").write_bytes(b"1")
    oss_store(oss).upload(tmp_path / "f", place.uri("v4"))
    v1 = oss_store(oss, signature_version="v1")
    v1.upload(tmp_path / "f", place.uri("v1"))
    v1.download(place.uri("v4"), tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == b"1"
    schemes = [r.headers["authorization"].split()[0] for r in oss.gateway.requests]
    assert set(schemes) == {"OSS4-HMAC-SHA256", "OSS"} and schemes[0] == "OSS4-HMAC-SHA256"


def test_long_listings_are_read_page_by_page(oss: OssServer, place: Scratch, tmp_path: Path):
    client = oss.s3.client()
    names = [f"export/part {i}.csv" for i in range(5)]
    for name in names:
        client.put_object(Bucket=place.bucket, Key=place.key(name), Body=name.encode())
    store = oss_store(oss)
    store.list_page = 2
    store.download(place.uri("export"), tmp_path / "export")  # a folder another tool wrote: every object under it
    assert sorted(path.name for path in (tmp_path / "export").iterdir()) == [name.removeprefix("export/") for name in names]
    (tmp_path / "f").write_bytes(b"1")
    store.upload(tmp_path / "f", place.uri("export"))  # a file replaces the folder: every page of it is deleted
    assert place.keys() == ["export"]
    pages = [r for r in oss.gateway.requests if r.query.get("list-type") == "2" and r.query.get("continuation-token")]
    assert len(pages) >= 4  # signed with their continuation tokens, which the gateway checked


# Resumed downloads, through a gateway that drops connections on purpose.

SIZE = BIG


@pytest.fixture
def big_object(oss: OssServer, place: Scratch, tmp_path: Path) -> tuple[str, bytes]:
    content = upload_big_object(oss_store(oss), place.uri("big"), tmp_path)
    oss.gateway.requests.clear()
    return place.uri("big"), content


def ranges(oss: OssServer, key: str) -> list[tuple[str | None, str | None, int]]:
    """(Range, If-Match, bytes sent) of each GET of `key`."""
    return [(r.headers.get("range"), r.headers.get("if-match"), r.body_bytes) for r in oss.gateway.gets(key)]


def test_a_download_that_breaks_off_continues_from_where_it_stopped(oss: OssServer, big_object: tuple[str, bytes], tmp_path: Path):
    uri, content = big_object
    oss.gateway.cut_downloads(after_bytes=2 * MiB)
    oss_store(oss).download(uri, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == content
    (first, ahead, rest) = ranges(oss, "/big")
    assert first == (None, None, 2 * MiB)  # of the first 5 MiB it was to give
    assert ahead[0] == f"bytes={5 * MiB}-{SIZE - 1}" and ahead[1] and ahead[2] == SIZE - 5 * MiB  # read meanwhile; let go
    assert rest[0] == f"bytes={2 * MiB}-" and rest[1] == ahead[1] and rest[2] == SIZE - 2 * MiB
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big", "copy"]


def test_an_interrupted_download_is_resumed_by_the_next_one(oss: OssServer, big_object: tuple[str, bytes], tmp_path: Path):
    uri, content = big_object
    oss.gateway.cut_downloads(after_bytes=4 * MiB)
    with pytest.raises(SluicewayError, match=rf"^could not read {uri} at {oss.endpoint}: "):
        oss_store(oss, max_attempts=1).download(uri, tmp_path / "copy")  # gives up at once: as if the process died
    assert not (tmp_path / "copy").exists()
    assert (tmp_path / ".copy.sluiceway-partial").stat().st_size == 4 * MiB

    oss_store(oss).download(uri, tmp_path / "copy")  # as in a new process
    assert (tmp_path / "copy").read_bytes() == content
    assert [(r, sent) for r, _, sent in ranges(oss, "/big")] == [
        (None, 4 * MiB),  # the first call: cut short, then the next range, read meanwhile and let go
        (f"bytes={5 * MiB}-{SIZE - 1}", SIZE - 5 * MiB),
        (f"bytes={4 * MiB}-", SIZE - 4 * MiB),  # the second call: from where the first stopped
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big", "copy"]


def test_a_partial_download_of_an_object_since_replaced_starts_over(oss: OssServer, big_object: tuple[str, bytes], tmp_path: Path):
    uri, _ = big_object
    oss.gateway.cut_downloads(after_bytes=3 * MiB)
    with pytest.raises(SluicewayError):
        oss_store(oss, max_attempts=1).download(uri, tmp_path / "copy")
    replacement = b"new" * (MiB // 2)
    (tmp_path / "new").write_bytes(replacement)
    oss_store(oss).upload(tmp_path / "new", uri)
    oss.gateway.requests.clear()

    oss_store(oss).download(uri, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == replacement
    statuses = [(r.headers.get("range"), r.status) for r in oss.gateway.gets("/big")]
    assert statuses == [(f"bytes={3 * MiB}-", 412), (None, 200)]  # If-Match failed on the ranged GET; then the whole object


def test_a_folder_download_cut_short_keeps_the_files_it_got(oss: OssServer, place: Scratch, tmp_path: Path):
    files = {"1.bin": b"1" * (2 * MiB), "2.bin": b"2" * (2 * MiB), "3.bin": b"3" * (2 * MiB)}
    uri = place.uri("ds")
    oss_store(oss).upload(make_tree(tmp_path / "ds", files), uri)
    oss.gateway.requests.clear()
    oss.gateway.cut_downloads(after_bytes=MiB, key_suffix="/3.bin")  # the third file breaks off half-way
    with pytest.raises(SluicewayError):
        oss_store(oss, max_attempts=1, max_concurrency=1).download(uri, tmp_path / "out")  # one file after the other
    oss.gateway.requests.clear()

    oss_store(oss).download(uri, tmp_path / "out")
    assert tree(tmp_path / "out") == files
    got = [(r.key.rsplit("/", 1)[1], r.headers.get("range")) for r in oss.gateway.gets(".bin")]
    assert got == [("3.bin", f"bytes={MiB}-")]  # only the rest of the third file


# Checksums.


def test_crc64_is_the_ecma_182_crc_oss_documents():
    assert crc64(b"123456789") == 0x995DC9BBDF1939FA  # the published check value of CRC-64/ECMA-182 (as in xz)


@pytest.mark.parametrize("size", [100, 11 * MiB], ids=["one-request", "multipart"])
def test_an_upload_damaged_on_the_way_is_detected_by_its_crc64(oss: OssServer, place: Scratch, tmp_path: Path, size: int):
    (tmp_path / "f").write_bytes(os.urandom(size))
    oss.gateway.damage_uploads()
    with pytest.raises(SluicewayError, match=rf"^could not write {place.uri('f')} at {oss.endpoint}: the data was damaged on the way"):
        oss_store(oss).upload(tmp_path / "f", place.uri("f"))
    if size > 5 * MiB:  # the multipart upload was aborted: no object, no parts left behind
        assert place.keys() == []
        assert "Uploads" not in oss.s3.client().list_multipart_uploads(Bucket=place.bucket, Prefix=place.prefix)


def test_without_upload_checksums_oss2_checks_no_crc(oss: OssServer, place: Scratch, tmp_path: Path):
    """The download still refuses what the SHA-256 says is not what was uploaded."""
    (tmp_path / "f").write_bytes(b"the real weights")
    oss.gateway.damage_uploads()
    store = oss_store(oss, upload_checksums=False)
    store.upload(tmp_path / "f", place.uri("f"))
    with pytest.raises(SluicewayError, match=rf"^{place.uri('f')} is corrupt: the downloaded copy has SHA-256"):
        store.download(place.uri("f"), tmp_path / "copy")


# Errors.


@pytest.mark.parametrize("signature_version", ["v4", "v1"])
def test_wrong_credentials_are_rejected_and_never_printed(
    oss: OssServer, place: Scratch, tmp_path: Path, caplog: pytest.LogCaptureFixture, signature_version: str
):
    caplog.set_level(logging.DEBUG)
    store = oss_store(oss, secret_access_key=SECRET, session_token=TOKEN, signature_version=signature_version)
    (tmp_path / "f").write_bytes(b"1")
    rejected = (
        rf"^{oss.endpoint} rejected the OSS credentials \(SignatureDoesNotMatch\) for bucket '{place.bucket}': "
        "check the access key id, the secret and any session token$"
    )
    for attempt in each_request(store, place.uri("x"), tmp_path):
        with pytest.raises(SluicewayError, match=rejected) as caught:
            attempt()
        assert SECRET not in str(caught.value) and TOKEN not in str(caught.value)
    assert oss.gateway.requests[0].headers["x-oss-security-token"] == TOKEN  # the token was sent...
    assert "SignatureDoesNotMatch" in caplog.text and "x-oss-security-token" in caplog.text  # ...oss2 logged requests and errors...
    for secret in (SECRET, TOKEN, oss.admin.access_key_id):
        assert secret not in caplog.text  # ...without the credentials
    assert SECRET not in repr(store)


def test_an_unknown_access_key_is_rejected(oss: OssServer, place: Scratch):
    store = oss_store(oss, access_key_id="LTAI-nobody", secret_access_key=SECRET)
    with pytest.raises(SluicewayError, match=r"rejected the OSS credentials \(InvalidAccessKeyId\)"):
        store.exists(place.uri("x"))


def test_credentials_stay_out_of_debug_logs_when_all_goes_well(
    oss: OssServer, place: Scratch, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setitem(oss.gateway.identities, KEY_ID, OssIdentity(KEY_ID, SECRET))
    store = oss_store(oss, access_key_id=KEY_ID, secret_access_key=SECRET)
    make_tree(tmp_path / "d", {"a": b"1", "big": b"b" * (6 * MiB)})
    store.upload(tmp_path / "d", place.uri("d"))
    store.download(place.uri("d"), tmp_path / "copy")
    assert "Send request" in caplog.text and "authorization" in caplog.text
    for secret in (SECRET, KEY_ID):
        assert secret not in caplog.text


def test_credentials_come_from_oss2s_environment_variables(oss: OssServer, place: Scratch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", oss.admin.access_key_id)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", oss.admin.secret_access_key)
    store = OssArtifactStore(endpoint=oss.endpoint, region=oss.region)
    (tmp_path / "f").write_bytes(b"1")
    store.upload(tmp_path / "f", place.uri("x"))  # the gateway checked the signature
    assert store.exists(place.uri("x"))
    assert OssArtifactStore.credential_env == {
        "access_key_id": "OSS_ACCESS_KEY_ID",
        "secret_access_key": "OSS_ACCESS_KEY_SECRET",
        "session_token": "OSS_SESSION_TOKEN",
    }


def test_no_credentials_anywhere_is_said_plainly(oss: OssServer, monkeypatch: pytest.MonkeyPatch):
    for name in ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    store = OssArtifactStore(endpoint=oss.endpoint, region=oss.region)
    with pytest.raises(
        SluicewayError,
        match=r"^no OSS credentials found for bucket 'b-b-b' at .*: pass access_key_id and secret_access_key, or set OSS_ACCESS_KEY_ID",
    ):
        store.exists("oss://b-b-b/x")
    assert oss.gateway.requests == []


def test_server_errors_are_retried(oss: OssServer, place: Scratch, tmp_path: Path):
    (tmp_path / "f").write_bytes(b"1")
    oss.gateway.be_unavailable(2)
    oss_store(oss, max_attempts=3).upload(tmp_path / "f", place.uri("f"))
    assert [r.status for r in oss.gateway.requests[:3]] == [503, 503, 200]
    oss.gateway.be_unavailable(2)
    with pytest.raises(
        SluicewayError, match=rf"^could not list {place.uri('f')} at {oss.endpoint}: the server answered ServiceUnavailable$"
    ):
        oss_store(oss, max_attempts=2).upload(tmp_path / "f", place.uri("f"))


# Settings.


def test_settings_are_keywords_with_sensible_defaults():
    with pytest.raises(TypeError):
        OssArtifactStore("https://oss-cn-hangzhou.aliyuncs.com")  # type: ignore[misc]
    store = OssArtifactStore(endpoint="https://oss-cn-hangzhou.aliyuncs.com")
    assert (store.region, store.signature_version, store.connect_timeout_seconds) == ("cn-hangzhou", "v4", 10)
    assert (
        OssArtifactStore(endpoint="oss-eu-central-1-internal.aliyuncs.com").endpoint_url == "https://oss-eu-central-1-internal.aliyuncs.com"
    )
    assert OssArtifactStore(endpoint="oss-eu-central-1-internal.aliyuncs.com").region == "eu-central-1"
    assert OssArtifactStore(endpoint="https://oss-accelerate.aliyuncs.com").region is None
    assert OssArtifactStore(region="oss-cn-beijing").region == "cn-beijing"  # the older region id, as V4 signatures name it


def test_the_endpoint_and_the_region_are_asked_for_when_first_needed():
    OssArtifactStore()  # the configuration is checked before a task needs the store: no error yet
    with pytest.raises(SluicewayError, match=r"^the oss artifact store needs an endpoint: set artifacts.endpoint, e.g. https://oss-cn-"):
        OssArtifactStore(access_key_id="a", secret_access_key="b").exists("oss://bucket/key")
    with pytest.raises(SluicewayError, match=r"^OSS V4 signatures need the region, .* set artifacts.region, e.g. cn-hangzhou$"):
        OssArtifactStore(endpoint="http://127.0.0.1:1", access_key_id="a", secret_access_key="b").exists("oss://bucket/key")


# The test double itself: it must refuse what OSS refuses, or the tests above prove little.


def test_the_gateway_refuses_anonymous_tampered_and_unsupported_requests(oss: OssServer, place: Scratch):
    import oss2
    import requests

    url = f"{oss.endpoint}/{place.bucket}/{place.key('x')}"
    anonymous = requests.put(url, data=b"x", timeout=5)
    assert (anonymous.status_code, _code(anonymous)) == (403, "AccessDenied")

    request = oss2.http.Request("PUT", url, data=b"x", headers={"x-oss-meta-sha256": "a"}, region=oss.region, product="oss")
    credentials = oss2.credentials.StaticCredentialsProvider(oss.admin.access_key_id, oss.admin.secret_access_key)
    oss2.ProviderAuthV4(credentials)._sign_request(request, place.bucket, place.key("x"))
    assert requests.put(url, data=b"x", headers=request.headers, timeout=5).status_code == 200
    request.headers["x-oss-meta-sha256"] = "b"  # signed headers changed after signing
    tampered = requests.put(url, data=b"x", headers=request.headers, timeout=5)
    assert (tampered.status_code, _code(tampered)) == (403, "SignatureDoesNotMatch")

    acl = oss2.http.Request("GET", f"{oss.endpoint}/{place.bucket}/", params={"acl": ""}, region=oss.region, product="oss")
    oss2.ProviderAuthV4(credentials)._sign_request(acl, place.bucket, "")
    unsupported = requests.get(acl.url, params=acl.params, headers=acl.headers, timeout=5)  # signed right, but not implemented
    assert (unsupported.status_code, _code(unsupported)) == (501, "NotImplemented")


def _code(response: Any) -> str:
    import xml.etree.ElementTree as ET

    return ET.fromstring(response.content or base64.b64decode(response.headers["x-oss-err"])).findtext("Code") or ""


# Through the configuration.


def test_a_pipeline_keeps_metadata_in_mysql_and_artifacts_in_oss(oss: OssServer, tmp_path: Path, cli: Any):
    """`sluiceway db upgrade`, `run` and `runs list` on MySQL and the OSS test double, all set through the environment:
    endpoint and region reach each task through its task spec, the credentials through OSS_ACCESS_KEY_ID/SECRET in its
    environment (the gateway checks every signature); the secret is written nowhere."""
    place = Scratch(oss.s3, scheme="oss")
    with scratch_database("mysql") as url:
        env = {
            "SLUICEWAY_HOME": str(tmp_path / "home"),
            "SLUICEWAY_METADATA__URL": url,
            "SLUICEWAY_ARTIFACTS__URL": place.uri("artifacts"),
            "SLUICEWAY_ARTIFACTS__ENDPOINT": oss.endpoint,
            "SLUICEWAY_ARTIFACTS__REGION": oss.region,  # V4 signatures need it; an aliyuncs.com endpoint would say it
            "SLUICEWAY_ARTIFACTS__ACCESS_KEY_ID": oss.admin.access_key_id,
            "SLUICEWAY_ARTIFACTS__SECRET_ACCESS_KEY": oss.admin.secret_access_key,
        }
        upgraded = cli("db", "upgrade", env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        result = cli("run", str(REPO / "examples" / "train_and_evaluate.py"), env=env)
        assert result.returncode == 0, result.stderr
        listed = cli("runs", "list", "--output", "json", env=env)
        assert listed.returncode == 0, listed.stderr
    (run,) = json.loads(listed.stdout)
    assert run["state"] == "SUCCEEDED"
    stored = place.keys()
    assert any(name.startswith(f"artifacts/{run['id']}/") and name.endswith("/train-model/1/model") for name in stored), stored
    assert not (tmp_path / "home" / "artifacts").exists()
    assert {r.headers["authorization"].split()[0] for r in oss.gateway.requests} == {"OSS4-HMAC-SHA256"}
    secret = oss.admin.secret_access_key.encode()
    outputs = [upgraded, result, listed]
    assert all(secret not in (output.stdout + output.stderr).encode() for output in outputs)
    assert [path for path in (tmp_path / "home").rglob("*") if path.is_file() and secret in path.read_bytes()] == []
