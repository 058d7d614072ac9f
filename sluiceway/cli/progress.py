"""Live progress of a run on the console."""

from __future__ import annotations

import time
from typing import IO

import click

from ..core.lifecycle import ErrorKind, RunState, TaskState
from ..engine.frames import Instance

_MARKS = {
    TaskState.RUNNING: "▶",
    TaskState.RETRYING: "↻",
    TaskState.SUCCEEDED: "✓",
    TaskState.CACHED: "≡",
    TaskState.FAILED: "✗",
    TaskState.SKIPPED: "-",
    TaskState.CANCELLED: "■",
}


class ConsoleProgress:
    """One line per task event, with the run's elapsed time and counts."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.counts: dict[TaskState, int] = {}
        self._last: dict[str, TaskState] = {}

    def run_changed(self, run_id: str, state: RunState, error_kind: ErrorKind | None, message: str) -> None:
        self._echo(f"run {run_id}: {state.value}" + (f" ({message})" if state == RunState.FAILED and message else ""))

    def task_changed(self, run_id: str, instance: Instance) -> None:
        previous = self._last.get(instance.id)
        if previous is not None:
            self.counts[previous] = self.counts.get(previous, 0) - 1
        self._last[instance.id] = instance.state
        self.counts[instance.state] = self.counts.get(instance.state, 0) + 1
        if instance.state == TaskState.PENDING:
            return
        detail = ""
        if instance.state == TaskState.SKIPPED and instance.skip_reason is not None:
            detail = f" ({instance.skip_reason.value})"
        elif instance.state in (TaskState.FAILED, TaskState.RETRYING) and instance.message:
            detail = f": {instance.message}"
        tally = ", ".join(
            f"{self.counts.get(s, 0)} {s.value.lower()}"
            for s in (TaskState.RUNNING, TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CACHED)
            if self.counts.get(s)
        )
        self._echo(f"{_MARKS.get(instance.state, ' ')} {instance.id} {instance.state.value.lower()}{detail}   [{tally}]")

    def _echo(self, text: str) -> None:
        click.echo(f"{time.monotonic() - self.started:7.1f}s  {text}", file=self.stream)
