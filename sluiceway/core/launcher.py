"""The launcher interface: how the engine starts one attempt of a task somewhere.

The engine decides what runs and when; a launcher only starts an attempt (a local process,
a Kubernetes Job) running the executor on a task spec, stops it on request or when its
time is up, and reports how it ended through a callback, from any thread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol

from .ir import Record
from .task_spec import TaskResult, TaskSpec

AttemptEnd = Literal["finished", "timed_out", "cancelled", "lost"]


class AttemptOutcome(Record, frozen=True):
    """How an attempt ended. `result` is the executor's result when it wrote one."""

    end: AttemptEnd
    exit_code: int | None = None
    result: TaskResult | None = None
    message: str = ""

    @property
    def succeeded(self) -> bool:
        return self.end == "finished" and self.result is not None and self.result.succeeded


class Attempt(Protocol):
    def cancel(self) -> None:
        """Stop the attempt (politely, then by force); its outcome is reported as 'cancelled'."""


class Launcher(Protocol):
    def launch(
        self,
        spec: TaskSpec,
        *,
        spec_path: Path,
        log_path: Path,
        timeout_seconds: float | None,
        on_end: Callable[[AttemptOutcome], None],
    ) -> Attempt:
        """Start the executor on `spec` (already written to `spec_path`); call `on_end` once when it ends."""

    def close(self) -> None:
        """Release what the launcher holds for the run (a fork server, a watch); called once, when the run has ended."""
