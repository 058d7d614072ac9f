"""A real `sluiceway server` for the client's and the CLI's tests: one process per test module, on a free port of
127.0.0.1, its home in a temporary folder, auth off (the client's token handling is tested without a server)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the server needs the `server` extra")

import httpx2 as httpx

from tests.server.test_server_process import free_port

START_SECONDS = 30


@dataclass(frozen=True)
class LiveServer:
    address: str
    home: Path
    env: dict[str, str]
    """The environment a command needs to use this server's home (for `run_cli`)."""


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("server")
    env = {"SLUICEWAY_HOME": str(folder / "home"), "SLUICEWAY_SERVER__AUTH__ENABLED": "false"}
    port = free_port()
    log = open(folder / "server.log", "w")  # noqa: SIM115  (closed below, after the process)
    process = subprocess.Popen(
        [sys.executable, "-m", "sluiceway", "server", "--port", str(port)],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    address = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(address, process, folder / "server.log")
        yield LiveServer(address, folder / "home", {**env, "SLUICEWAY_CONFIG": ""})
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_until_ready(address: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{address}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the server was not ready within {START_SECONDS} s:\n{log.read_text()}")
