"""`sluiceway server` as an operator starts it: a real process on a free port, spoken to over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    yield from started(tmp_path, auth=False)


def started(tmp_path: Path, *, auth: bool) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`sluiceway server` with the configuration `tmp_path/sluiceway.yaml` and the home `tmp_path/home`, once it is ready."""
    settings = tmp_path / "sluiceway.yaml"
    settings.write_text(f"server:\n  port: 1\n  auth: {{enabled: {str(auth).lower()}}}\n", encoding="utf-8")  # --port wins
    port = free_port()
    env = {**os.environ, "SLUICEWAY_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "sluiceway", "--config", str(settings), "server", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    address = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{address}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield address, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def test_the_server_runs_a_pipeline_on_the_embedded_default_and_stops_on_sigterm(server, tmp_path):
    address, process = server
    assert process.poll() is None, process.stdout.read() if process.stdout else ""
    with httpx.Client(base_url=address, timeout=10) as client:
        version = client.post("/api/v1/pipelines/upload", content=(REPO / "tests" / "golden" / "quickstart.yaml").read_bytes()).json()
        run = client.post("/api/v1/runs", json={"pipeline_version": {"pipeline_id": version["pipeline_id"], "digest": version["digest"]}})
        assert run.status_code == 201, run.text
        deadline = time.monotonic() + 60
        while (state := client.get(f"/api/v1/runs/{run.json()['id']}").json()["state"]) not in ("SUCCEEDED", "FAILED"):
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
        assert state == "SUCCEEDED"
    assert (tmp_path / "home" / "metadata.db").exists()  # the embedded default's SQLite
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) in (0, -signal.SIGTERM)  # uvicorn ends by the signal it was stopped with, after a graceful stop
    output = process.stdout.read() if process.stdout else ""
    assert "AUTH IS DISABLED" in output and "Application shutdown complete" in output and "Traceback" not in output


def test_a_token_the_cli_makes_opens_the_api_of_a_server_with_auth_on(tmp_path, cli):
    address, _ = next(serving := started(tmp_path, auth=True))
    try:
        env = {"SLUICEWAY_HOME": str(tmp_path / "home"), "SLUICEWAY_CONFIG": str(tmp_path / "sluiceway.yaml")}  # the server's store
        made = cli("tokens", "create", "--namespace", "team-a", "--role", "editor", env=env)
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        assert token.startswith("slw_") and "shown again" in made.stderr
        with httpx.Client(base_url=address, timeout=10) as client:
            assert client.get("/api/v1/runs", params={"namespace": "team-a"}).status_code == 401
            authorized = {"Authorization": f"Bearer {token}"}
            answer = client.post("/api/v1/experiments", json={"namespace": "team-a", "name": "by-token"}, headers=authorized)
            assert answer.status_code == 201, answer.text
            listed = cli("tokens", "list", "--output", "json", env=env)
            (shown,) = json.loads(listed.stdout)
            assert shown["roles"] == {"team-a": "editor"} and shown["last_used_at"] and token.split("_", 2)[2] not in listed.stdout
            assert cli("tokens", "revoke", shown["id"], env=env).returncode == 0
            assert client.get("/api/v1/runs", params={"namespace": "team-a"}, headers=authorized).status_code == 401
    finally:
        serving.close()
