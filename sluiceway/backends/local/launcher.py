"""Attempts as local processes: the executor in a process group of its own, one per attempt."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

import msgspec

from ...core.ir import PythonFunction
from ...core.launcher import AttemptOutcome
from ...core.task_spec import TaskResult, TaskSpec
from .venvs import python_for

GRACE_SECONDS = 5.0
"""Between SIGTERM and SIGKILL, for an attempt asked to stop."""


class LocalAttempt:
    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.stop_reason: str | None = None
        self._lock = threading.Lock()

    def cancel(self) -> None:
        self.stop("cancelled")

    def stop(self, reason: str) -> None:
        """SIGTERM to the whole process group, then SIGKILL after the grace period."""
        with self._lock:
            if self.stop_reason is not None or self.process.poll() is not None:
                return
            self.stop_reason = reason
        _signal_group(self.process.pid, signal.SIGTERM)
        killer = threading.Timer(GRACE_SECONDS, self._kill)
        killer.daemon = True
        killer.start()

    def _kill(self) -> None:
        if self.process.poll() is None:  # still running after the grace period
            _signal_group(self.process.pid, signal.SIGKILL)


class LocalLauncher:
    """Runs `python -m sluiceway.executor SPEC` as a local process per attempt.

    The task's output goes to the console, each line prefixed with the task's name, and to
    its log file.
    """

    def __init__(self, *, python: str = sys.executable, echo: IO[str] | None = None, venv_root: Path | None = None) -> None:
        self.python = python
        self.echo = echo
        self.venv_root = venv_root
        """Where virtualenvs for tasks' packages_to_install are kept; None: packages are not installed."""

    def launch(
        self,
        spec: TaskSpec,
        *,
        spec_path: Path,
        log_path: Path,
        timeout_seconds: float | None,
        on_end: Callable[[AttemptOutcome], None],
    ) -> LocalAttempt:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            [self._python_for(spec), "-m", "sluiceway.executor", str(spec_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so that stopping it stops its children too
        )
        attempt = LocalAttempt(process)
        threading.Thread(target=self._watch, args=(attempt, spec, log_path, timeout_seconds, on_end), daemon=True).start()
        return attempt

    def _python_for(self, spec: TaskSpec) -> str:
        implementation = spec.component.implementation
        if self.venv_root is None or not isinstance(implementation, PythonFunction) or not implementation.packages_to_install:
            return self.python
        return python_for(implementation.packages_to_install, implementation.pip_index_urls, self.venv_root)

    def _watch(
        self,
        attempt: LocalAttempt,
        spec: TaskSpec,
        log_path: Path,
        timeout_seconds: float | None,
        on_end: Callable[[AttemptOutcome], None],
    ) -> None:
        timer = threading.Timer(timeout_seconds, attempt.stop, ("timed_out",)) if timeout_seconds else None
        if timer:
            timer.daemon = True
            timer.start()
        assert attempt.process.stdout is not None
        with open(log_path, "ab") as log:
            for line in attempt.process.stdout:
                log.write(line)
                log.flush()
                if self.echo is not None:
                    self.echo.write(f"[{spec.task}] {line.decode(errors='replace')}")
                    self.echo.flush()
        exit_code = attempt.process.wait()
        if timer:
            timer.cancel()
        on_end(_outcome(attempt, spec, exit_code, timeout_seconds))


def _outcome(attempt: LocalAttempt, spec: TaskSpec, exit_code: int, timeout_seconds: float | None) -> AttemptOutcome:
    if attempt.stop_reason == "timed_out":
        return AttemptOutcome(
            end="timed_out", exit_code=exit_code, message=f"the attempt ran longer than its timeout of {timeout_seconds:g} s"
        )
    if attempt.stop_reason == "cancelled":
        return AttemptOutcome(end="cancelled", exit_code=exit_code, message="the attempt was cancelled")
    try:
        result = msgspec.json.decode(Path(spec.result_path).read_bytes(), type=TaskResult)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        killed = f" (killed by signal {-exit_code})" if exit_code < 0 else ""
        return AttemptOutcome(
            end="lost", exit_code=exit_code, message=f"the executor ended with status {exit_code}{killed} and left no result"
        )
    return AttemptOutcome(end="finished", exit_code=exit_code, result=result, message=result.error.message if result.error else "")


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(pid, sig)
