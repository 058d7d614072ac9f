"""The store tests run on every metadata database: SQLite in a temporary folder, PostgreSQL and MariaDB (tests/databases.py),
and on every artifact store: local files, S3 on moto's and SeaweedFS's servers (tests/s3_servers.py), and OSS through
a test double, an OSS-to-S3 translation layer in front of moto's server (tests/oss_gateway.py): not a real OSS."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.databases import SERVER_URLS, scratch_database
from tests.oss_gateway import OssServer, oss_gateway
from tests.s3_servers import S3Server, ServerUnavailable, moto_server, seaweedfs_server

DATABASES = ("sqlite", *SERVER_URLS)


@pytest.fixture(params=DATABASES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of each kind, removed after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'metadata.db'}"
        return
    with scratch_database(request.param) as database_url:
        yield database_url


# Artifact stores: real S3 servers for the whole session, each test under a prefix of its own (tests/s3_servers.py).


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    yield from _started(moto_server(tmp_path_factory.mktemp("moto")))


@pytest.fixture(scope="session")
def seaweedfs_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    yield from _started(seaweedfs_server(tmp_path_factory.mktemp("seaweedfs")))


def _started(server: AbstractContextManager[S3Server]) -> Iterator[S3Server]:
    with ExitStack() as stack:
        try:
            running = stack.enter_context(server)
        except ServerUnavailable as error:
            unavailable(str(error), "`pip install -e '.[test]'` installs it")
        yield running


@pytest.fixture(params=["moto", "seaweedfs"])
def s3_server(request: pytest.FixtureRequest) -> S3Server:
    """Each S3 server in turn."""
    server: S3Server = request.getfixturevalue(f"{request.param}_s3")
    return server


@pytest.fixture(scope="session")
def oss_test_double(moto_s3: S3Server) -> Iterator[OssServer]:
    """Alibaba Cloud OSS as a TEST DOUBLE, not OSS: oss2 talks OSS's protocol (signatures checked) to tests/oss_gateway.py,
    which stores through moto's S3 server, in that server's bucket."""
    with oss_gateway(moto_s3) as server:
        yield server
