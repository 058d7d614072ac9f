"""The orchestrator's side of the executor's fork server (`python -m sluiceway.executor --serve FD`).

One server per launcher. It is started on first use, forks a child per attempt, and ends
when the launcher closes it. The protocol is described in sluiceway/executor/forkserver.py.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
from pathlib import Path


class ForkServerGone(Exception):
    """The fork server has ended or could not start; attempts must be started another way."""


class ForkedProcess:
    """An attempt's process as the fork server reports it; answers like subprocess.Popen (pid, poll, wait)."""

    def __init__(self) -> None:
        self.pid = 0
        self.returncode: int | None = None
        self.lost = False
        """The server ended before reporting how this process ended."""
        self._started = threading.Event()
        self._ended = threading.Event()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self) -> int | None:
        """The exit code (negative: killed by that signal); None when the server was lost first."""
        self._ended.wait()
        return self.returncode

    def _start(self, pid: int) -> None:
        self.pid = pid
        self._started.set()

    def _end(self, code: int | None) -> None:
        self.returncode = code
        self.lost = code is None
        self._started.set()
        self._ended.set()


class ForkServer:
    def __init__(self, python: str) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._server = subprocess.Popen(
                [python, "-m", "sluiceway.executor", "--serve", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C at the terminal is the orchestrator's to handle, not the server's
            )
        finally:
            theirs.close()
        self._socket = ours
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._processes: dict[int, ForkedProcess] = {}
        self._next_id = 0
        self._gone = False
        threading.Thread(target=self._read_answers, name="sluiceway-fork-server", daemon=True).start()

    def start(self, spec_path: Path, output_fd: int, *, env: dict[str, str], cwd: str) -> ForkedProcess:
        """A child running the executor on `spec_path`, its stdout and stderr on `output_fd`; ForkServerGone if the server is."""
        process = ForkedProcess()
        with self._lock:
            if self._gone:
                raise ForkServerGone("the executor's fork server has ended")
            self._next_id += 1
            request_id = self._next_id
            self._processes[request_id] = process
        message = json.dumps({"id": request_id, "spec": str(spec_path), "env": env, "cwd": cwd, "argv0": "sluiceway-executor"})
        try:
            with self._send_lock:
                data = message.encode() + b"\n"
                sent = socket.send_fds(self._socket, [data], [output_fd])
                self._socket.sendall(data[sent:])
        except OSError as error:
            with self._lock:
                self._processes.pop(request_id, None)
            raise ForkServerGone(f"the executor's fork server has ended: {error}") from None
        process._started.wait()
        if process.lost:
            raise ForkServerGone("the executor's fork server ended before starting the attempt")
        return process

    def close(self) -> None:
        """End the server (attempts still running go on); wait for it to exit."""
        with contextlib.suppress(OSError):  # already gone
            self._socket.shutdown(socket.SHUT_WR)
        self._server.wait()

    def _read_answers(self) -> None:
        with self._socket.makefile("rb") as answers:
            for line in answers:
                answer = json.loads(line)
                with self._lock:
                    process = self._processes.get(answer["id"])
                    if process is not None and "exit" in answer:
                        del self._processes[answer["id"]]
                if process is None:
                    continue
                if "pid" in answer:
                    process._start(answer["pid"])
                else:
                    process._end(answer["exit"])
        with self._lock:
            self._gone = True
            orphans = list(self._processes.values())
            self._processes.clear()
        for process in orphans:
            process._end(None)
