"""The launcher interface: how the engine starts one attempt of a task somewhere.

The engine decides what runs and when; a launcher only starts an attempt (a local process,
a Kubernetes Job) running the executor on a task spec, stops it on request or when its
time is up, and reports how it ended through a callback, from any thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Literal, Protocol, runtime_checkable

from .ir import Pipeline, Record, TaskSettings
from .lifecycle import ErrorKind
from .task_spec import StoreRef, TaskResult, TaskSpec
from .tickets import Decision

AttemptEnd = Literal["finished", "timed_out", "cancelled", "lost"]

_EXECUTOR_ERRORS = {"user_code": ErrorKind.COMPONENT_FAILED, "outputs": ErrorKind.OUTPUT_ERROR, "spec": ErrorKind.LAUNCH_FAILED}


class AttemptOutcome(Record, frozen=True):
    """How an attempt ended. `result` is the executor's result when it wrote one."""

    end: AttemptEnd
    exit_code: int | None = None
    result: TaskResult | None = None
    message: str = ""
    kind: ErrorKind | None = None
    """The ST-10 kind, when the launcher knows it better than `end` says (an attempt that could not start: LaunchFailed)."""
    began: bool = True
    """False when nothing ever ran the attempt: a workflow engine ended the run without creating its pod (it stopped
    scheduling after a failure before Sluiceway's engine heard of it). By ST-5 the task never became RUNNING."""

    @property
    def succeeded(self) -> bool:
        return self.end == "finished" and self.result is not None and self.result.succeeded

    @property
    def error_kind(self) -> ErrorKind | None:
        """The ST-10 kind of a failed attempt; None for one that succeeded or was cancelled."""
        if self.succeeded or self.end == "cancelled":
            return None
        if self.kind is not None:
            return self.kind
        if self.end == "timed_out":
            return ErrorKind.TIMEOUT
        if self.end == "lost" or self.result is None or self.result.error is None:
            return ErrorKind.LOST
        return _EXECUTOR_ERRORS.get(self.result.error.kind, ErrorKind.COMPONENT_FAILED)

    @classmethod
    def timed_out(cls, timeout_seconds: float | None, exit_code: int | None = None) -> AttemptOutcome:
        return cls(end="timed_out", exit_code=exit_code, message=f"the attempt ran longer than its timeout of {timeout_seconds or 0:g} s")

    @classmethod
    def cancelled(cls, exit_code: int | None = None) -> AttemptOutcome:
        return cls(end="cancelled", exit_code=exit_code, message="the attempt was cancelled")

    @classmethod
    def of_result(cls, result: TaskResult, exit_code: int | None) -> AttemptOutcome:
        return cls(end="finished", exit_code=exit_code, result=result, message=result.error.message if result.error else "")


class AttemptRecord(Record, frozen=True):
    """One attempt of a task as the run store keeps it (ST-7); `end` is None while it runs."""

    number: int
    started_at: float
    """Seconds since the epoch."""
    ended_at: float | None = None
    end: AttemptEnd | None = None
    exit_code: int | None = None
    error_kind: ErrorKind | None = None
    message: str = ""


class Attempt(Protocol):
    def cancel(self, *, force: bool = False) -> None:
        """Stop the attempt (politely, then by force after a grace period; at once with `force`); its outcome is reported as 'cancelled'."""


class Launcher(Protocol):
    def launch(
        self,
        spec: TaskSpec,
        *,
        spec_path: Path,
        log_path: Path,
        timeout_seconds: float | None,
        on_end: Callable[[AttemptOutcome], None],
        settings: TaskSettings = ...,
    ) -> Attempt:
        """Start the executor on `spec` (already written to `spec_path`); call `on_end` once when it ends. `settings` are
        the task's (resources, secrets, node selector), for launchers that place attempts somewhere."""

    def close(self) -> None:
        """Release what the launcher holds for the run (a fork server, a watch); called once, when the run has ended."""


def tee_lines(lines: Iterable[bytes], log: IO[bytes], echo: IO[str] | None, task: str) -> None:
    """Write an attempt's output to its log file as it comes, and to the console with the task's name before each line."""
    for line in lines:
        log.write(line)
        log.flush()
        if echo is not None:
            echo.write(f"[{task}] {line.decode(errors='replace')}")
            echo.flush()


class RunContext(Record, frozen=True):
    """What a launcher that submits the whole run (a workflow engine's) needs to know of it before it starts."""

    run_id: str
    pipeline: Pipeline
    artifact_root: str
    stores: dict[str, StoreRef | str]
    timeout_seconds: float | None = None
    exit_timeout_seconds: float = 0.0
    max_parallel: int | None = None


@runtime_checkable
class WorkflowLauncher(Launcher, Protocol):
    """A launcher whose backend runs the whole run as one object of a workflow engine (Argo, Tekton): the engine
    starts pods, Sluiceway's engine decides what each does (core/tickets.py). Besides launching attempts, it is told
    when the run begins and of every decision made without an attempt."""

    def begin(self, run: RunContext) -> None:
        """Submit the run's engine object; raise SluicewayError if the workflow engine refuses it."""

    def decided(self, instance: str, decision: Decision) -> None:
        """The engine decided `instance` (see Decision); its pods, started or to come, must do as it says."""

    def cancel_run(self, *, force: bool = False) -> None:
        """The run is being cancelled: stop the engine object, letting its exit handlers run unless `force`."""
