"""Attempts as local processes: the executor in a process group of its own, one per attempt.

Attempts are forked from the executor's fork server (see forking.py), which has the executor
already imported; an attempt that needs another interpreter (a task's own virtualenv), or
any attempt when the fork server is off or unavailable, starts `python -m sluiceway.executor`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol

import msgspec

from ...core.errors import SluicewayError
from ...core.ir import PythonFunction, TaskSettings
from ...core.launcher import AttemptOutcome, tee_lines
from ...core.lifecycle import ErrorKind
from ...core.task_spec import TaskResult, TaskSpec
from .forking import ForkServer, ForkServerGone
from .venvs import python_for

GRACE_SECONDS = 5.0
"""Between SIGTERM and SIGKILL, for an attempt asked to stop."""
FORK_SERVER_ENV = "SLUICEWAY_FORK_SERVER"
"""Set to 0 to start every attempt as a fresh interpreter."""


class Process(Protocol):
    """What a launcher needs of an attempt's process: a subprocess.Popen or a ForkedProcess."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def wait(self) -> int | None: ...


class LocalAttempt:
    """One attempt: its process once started (a task's virtualenv may have to be made first), and why it was stopped."""

    def __init__(self) -> None:
        self.process: Process | None = None
        self.stop_reason: str | None = None
        self._lock = threading.Lock()

    def cancel(self, *, force: bool = False) -> None:
        if not force:
            self.stop("cancelled")
            return
        with self._lock:
            self.stop_reason = self.stop_reason or "cancelled"
        self._kill()

    def stop(self, reason: str) -> None:
        """SIGTERM to the whole process group, then SIGKILL after the grace period."""
        with self._lock:
            if self.stop_reason is not None or (self.process is not None and self.process.poll() is not None):
                return
            self.stop_reason = reason
            process = self.process
        if process is None:
            return  # not started yet: it never will (see attach)
        _signal_group(process.pid, signal.SIGTERM)
        killer = threading.Timer(GRACE_SECONDS, self._kill)
        killer.daemon = True
        killer.start()

    def attach(self, process: Process) -> None:
        """The attempt's process has started; one stopped meanwhile is killed at once (it has done nothing yet)."""
        with self._lock:
            self.process = process
            stopped = self.stop_reason is not None
        if stopped:
            self._kill()

    def _kill(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:  # still running after the grace period
            _signal_group(process.pid, signal.SIGKILL)


class LocalLauncher:
    """Runs `python -m sluiceway.executor SPEC` as a local process per attempt.

    The task's output goes to the console, each line prefixed with the task's name, and to
    its log file.
    """

    def __init__(
        self,
        *,
        python: str = sys.executable,
        echo: IO[str] | None = None,
        venv_root: Path | None = None,
        fork_server: bool | None = None,
    ) -> None:
        self.python = python
        self.echo = echo
        self.venv_root = venv_root
        """Where virtualenvs for tasks' packages_to_install are kept; None: packages are not installed."""
        if fork_server is None:
            fork_server = os.environ.get(FORK_SERVER_ENV, "1") != "0"
        self.fork_server = fork_server and hasattr(os, "fork") and hasattr(socket, "send_fds")
        """Fork attempts from a fork server (POSIX only) instead of starting an interpreter for each."""
        self._server: ForkServer | None = None
        self._server_lock = threading.Lock()

    def launch(
        self,
        spec: TaskSpec,
        *,
        spec_path: Path,
        log_path: Path,
        timeout_seconds: float | None,
        on_end: Callable[[AttemptOutcome], None],
        settings: TaskSettings | None = None,
    ) -> LocalAttempt:
        """See Launcher.launch; `settings` place attempts on clusters, and are not used here."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        attempt = LocalAttempt()
        # Started and watched on a thread of its own: making a task's virtualenv may take minutes, and
        # the engine must go on deciding other tasks meanwhile.
        threading.Thread(target=self._run, args=(attempt, spec, spec_path, log_path, timeout_seconds, on_end), daemon=True).start()
        return attempt

    def close(self) -> None:
        """Stop the fork server, if one was started (attempts still running go on)."""
        with self._server_lock:
            server, self._server = self._server, None
        if server is not None:
            server.close()

    def _run(
        self,
        attempt: LocalAttempt,
        spec: TaskSpec,
        spec_path: Path,
        log_path: Path,
        timeout_seconds: float | None,
        on_end: Callable[[AttemptOutcome], None],
    ) -> None:
        timer = threading.Timer(timeout_seconds, attempt.stop, ("timed_out",)) if timeout_seconds else None
        if timer:  # the attempt's time counts from its launch, making its virtualenv included (TIME-1)
            timer.daemon = True
            timer.start()
        try:
            python = self._python_for(spec)
            if attempt.stop_reason is None:
                output, output_for_process = os.pipe()
                try:
                    attempt.attach(self._start(python, spec_path, output_for_process))
                except BaseException:
                    os.close(output)
                    raise
                finally:
                    os.close(output_for_process)
        except (OSError, SluicewayError) as error:
            if timer:
                timer.cancel()
            on_end(AttemptOutcome(end="lost", kind=ErrorKind.LAUNCH_FAILED, message=f"the attempt could not start: {error}"))
            return
        if attempt.process is None:  # stopped before it started
            on_end(_outcome(attempt, spec, None, timeout_seconds))
            return
        with open(output, "rb") as reader:
            self._watch(attempt, spec, reader, log_path, timer, timeout_seconds, on_end)

    def _start(self, python: str, spec_path: Path, output_fd: int) -> Process:
        if self.fork_server and python == self.python:
            try:
                return self._fork_server().start(spec_path, output_fd, env=dict(os.environ), cwd=os.getcwd())
            except ForkServerGone:
                with self._server_lock:
                    self.fork_server = False  # it does not come back: the rest of the run starts interpreters
        return subprocess.Popen(
            [python, "-m", "sluiceway.executor", str(spec_path)],
            stdout=output_fd,
            stderr=output_fd,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so that stopping it stops its children too
        )

    def _fork_server(self) -> ForkServer:
        with self._server_lock:
            if self._server is None:
                self._server = ForkServer(self.python)
            return self._server

    def _python_for(self, spec: TaskSpec) -> str:
        implementation = spec.component.implementation
        if self.venv_root is None or not isinstance(implementation, PythonFunction) or not implementation.packages_to_install:
            return self.python
        return python_for(implementation.packages_to_install, implementation.pip_index_urls, self.venv_root)

    def _watch(
        self,
        attempt: LocalAttempt,
        spec: TaskSpec,
        output: IO[bytes],
        log_path: Path,
        timer: threading.Timer | None,
        timeout_seconds: float | None,
        on_end: Callable[[AttemptOutcome], None],
    ) -> None:
        assert attempt.process is not None
        with open(log_path, "ab") as log:
            tee_lines(output, log, self.echo, spec.task)
        exit_code = attempt.process.wait()
        if timer:
            timer.cancel()
        on_end(_outcome(attempt, spec, exit_code, timeout_seconds))


def _outcome(attempt: LocalAttempt, spec: TaskSpec, exit_code: int | None, timeout_seconds: float | None) -> AttemptOutcome:
    if attempt.stop_reason == "timed_out":
        return AttemptOutcome.timed_out(timeout_seconds, exit_code)
    if attempt.stop_reason == "cancelled":
        return AttemptOutcome.cancelled(exit_code)
    try:
        result = msgspec.json.decode(Path(spec.result_path).read_bytes(), type=TaskResult)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        if exit_code is None:
            return AttemptOutcome(end="lost", message="the executor left no result, and the fork server that started it ended first")
        killed = f" (killed by signal {-exit_code})" if exit_code < 0 else ""
        return AttemptOutcome(
            end="lost", exit_code=exit_code, message=f"the executor ended with status {exit_code}{killed} and left no result"
        )
    return AttemptOutcome.of_result(result, exit_code)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(pid, sig)
