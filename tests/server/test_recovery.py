"""Run supervision across a crash: the server, a real process, is killed (SIGKILL) in the middle of a run and started
again; the run goes on, no task that had finished runs again, and no run is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from sluiceway import dsl
from sluiceway.compiler import compile_pipeline
from sluiceway.core import dump_yaml
from tests.server.test_server_process import free_port


@dsl.component
def count_once(marker: str) -> int:
    """Counts its own runs in a file: a component that ran twice says so."""
    from pathlib import Path

    path = Path(marker)
    runs = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(runs))
    return runs


@dsl.component
def hold(runs: int, go: str, pid_file: str) -> int:
    """Waits until the file `go` exists (the test makes it once the server was killed and started again)."""
    import os
    import time
    from pathlib import Path

    Path(pid_file).write_text(str(os.getpid()))
    deadline = time.monotonic() + 120
    while not Path(go).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return runs * 10


@dsl.component
def finish(value: int) -> int:
    return value + 1


@dsl.pipeline(name="interrupted")
def interrupted(marker: str, go: str, pid_file: str) -> None:
    first = count_once(marker=marker)
    finish(value=hold(runs=first.output, go=go, pid_file=pid_file).output)


class Server:
    """`sluiceway server` as an operator runs it, started (and killed) as often as a test wants, on one home and port."""

    def __init__(self, tmp_path: Path) -> None:
        self.settings = tmp_path / "sluiceway.yaml"
        self.settings.write_text("server:\n  auth: {enabled: false}\n", encoding="utf-8")
        self.env = {**os.environ, "SLUICEWAY_HOME": str(tmp_path / "home")}
        self.port = free_port()
        self.address = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "sluiceway", "--config", str(self.settings), "server", "--port", str(self.port)]
        self.process = subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        wait_for(lambda: self._ready(), what="the server to be ready")

    def _ready(self) -> bool:
        assert self.process is not None and self.process.poll() is None, "the server exited"
        try:
            return httpx.get(f"{self.address}/readyz").status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def wait_for(condition: Callable[[], Any], *, what: str, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


def tasks_of(address: str, run_id: str) -> tuple[str, dict[str, dict[str, Any]]]:
    run = httpx.get(f"{address}/api/v1/runs/{run_id}").json()
    return run["state"], {task["task_id"]: task for task in run["tasks"]}


def test_a_run_survives_the_server_being_killed_mid_run(server: Server, tmp_path: Path) -> None:
    server.start()
    yaml_text = dump_yaml(compile_pipeline(interrupted))
    version = httpx.post(f"{server.address}/api/v1/pipelines/upload", content=yaml_text.encode()).json()
    parameters = {"marker": str(tmp_path / "count"), "go": str(tmp_path / "go"), "pid_file": str(tmp_path / "hold.pid")}
    reference = {"pipeline_id": version["pipeline_id"], "digest": version["digest"]}
    created = httpx.post(f"{server.address}/api/v1/runs", json={"pipeline_version": reference, "parameters": parameters})
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]

    def holding() -> bool:
        _, tasks = tasks_of(server.address, run_id)
        return tasks.get("count-once", {}).get("state") == "SUCCEEDED" and tasks.get("hold", {}).get("state") == "RUNNING"

    wait_for(holding, what="the first task to finish and the second to run")
    server.kill()
    orphan = int((tmp_path / "hold.pid").read_text())  # the killed server's task process lives on: end it as an operator would
    os.kill(orphan, signal.SIGKILL)

    server.start()
    (tmp_path / "go").write_text("go")
    state, tasks = wait_for(
        lambda: (found := tasks_of(server.address, run_id))[0] in ("SUCCEEDED", "FAILED", "CANCELLED") and found,
        what="the run to end after the restart",
    )
    assert state == "SUCCEEDED", json.dumps(tasks, indent=1)
    assert (tmp_path / "count").read_text() == "1"  # the task that had finished did not run again
    assert tasks["count-once"]["attempts"] == 1
    assert tasks["hold"]["attempts"] == 2  # the attempt the crash interrupted, then the one after the restart
    assert tasks["finish"]["outputs"]["Output"] == {"value": 11}
    listed = httpx.get(f"{server.address}/api/v1/runs").json()
    assert run_id in [run["id"] for run in listed["items"]]  # no run lost
