"""Running the conformance cases on a backend, and saying how each went."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..core import ir
from ..core.lifecycle import ErrorKind, RunState, TaskState
from ..engine.engine import Engine, RunReport
from .cases import CASES, Case
from .expectations import differences, expected, observed

CANCEL_AFTER_SECONDS = 1.0
"""How long a case's task runs before the suite cancels the run (cancel_when_running)."""


@dataclass(frozen=True)
class Target:
    """A backend to run the cases on, and the configuration its runs use (a configuration file's content, whose
    `backend.name` is set to `backend`)."""

    backend: str = "local"
    config: Mapping[str, Any] = field(default_factory=dict)
    run_timeout_seconds: float = 300.0
    """A run still going after this fails (RunTimeout) rather than hang the suite."""

    def configuration(self) -> dict[str, Any]:
        settings = dict(self.config)
        settings["backend"] = {**settings.get("backend", {}), "name": self.backend}
        return settings


@dataclass
class Result:
    """How a case went on a target: refused by the backend (and why), or each step's differences from the expected."""

    case: Case
    target: Target
    refused: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.refused is None and not self.problems

    def __str__(self) -> str:
        if self.refused is not None:
            return f"{self.case} on {self.target.backend}: refused: {self.refused}"
        if not self.problems:
            return f"{self.case} on {self.target.backend}: as expected"
        return "\n".join([f"{self.case} on {self.target.backend} did not give the expected outcome:", *(f"  {p}" for p in self.problems)])


def run_case(case: Case, target: Target, home: Path) -> Result:
    """Run each step of `case` on `target`, with `home` (an empty folder) as the Sluiceway home of its runs."""
    result = Result(case, target)
    for number, step in enumerate(case.steps, start=1):
        time.sleep(step.pause_seconds)
        report = run_pipeline(
            case.pipeline, target, home, step.arguments, caching=step.caching, cancel_when_running=step.cancel_when_running
        )
        if report.refused is not None:
            result.refused = report.refused
            return result
        where = f"run {number} of {len(case.steps)}: " if len(case.steps) > 1 else ""
        result.problems += [where + line for line in differences(expected(step.expected), observed(report))]
        if report.state == RunState.FAILED and report.error_kind == ErrorKind.RUN_TIMEOUT:
            result.problems.append(f"{where}the run did not end within {target.run_timeout_seconds:g} s")
    return result


def run_suite(target: Target, homes: Path, cases: Iterable[Case] = CASES) -> list[Result]:
    """Every case on `target`, each with a home of its own under `homes`."""
    return [run_case(case, target, homes / case.name) for case in cases]


def run_pipeline(
    pipeline: ir.Pipeline,
    target: Target,
    home: Path,
    arguments: Mapping[str, Any],
    *,
    caching: bool = False,
    cancel_when_running: str | None = None,
) -> RunReport:
    """One run of `pipeline` on `target`, as `sluiceway.run` makes it, with `home` as its Sluiceway home."""
    from .. import local

    canceller = _Canceller(cancel_when_running)
    with _home(home, target):
        return local.run(
            pipeline,
            dict(arguments),
            caching=caching,
            timeout_seconds=target.run_timeout_seconds,
            observers=[canceller],
            on_engine=canceller.engine_is,
        )


@contextlib.contextmanager
def _home(home: Path, target: Target) -> Iterator[None]:
    """SLUICEWAY_HOME and SLUICEWAY_CONFIG for the run (put back afterwards)."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "sluiceway.yaml"
    config.write_text(yaml.safe_dump(target.configuration()))
    saved = {name: os.environ.get(name) for name in ("SLUICEWAY_HOME", "SLUICEWAY_CONFIG")}
    os.environ.update(SLUICEWAY_HOME=str(home), SLUICEWAY_CONFIG=str(config))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _Canceller:
    """An observer cancelling the run shortly after a given task instance starts running."""

    def __init__(self, task_id: str | None) -> None:
        self.task_id = task_id
        self.engine: Engine | None = None
        self.timer: threading.Timer | None = None

    def engine_is(self, engine: Engine) -> None:
        self.engine = engine

    def run_changed(self, run_id: str, state: RunState, error_kind: ErrorKind | None, message: str) -> None:
        if state in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED) and self.timer is not None:
            self.timer.cancel()

    def task_changed(self, run_id: str, instance: Any) -> None:
        if instance.id == self.task_id and instance.state == TaskState.RUNNING and self.timer is None and self.engine is not None:
            self.timer = threading.Timer(CANCEL_AFTER_SECONDS, self.engine.cancel)
            self.timer.daemon = True
            self.timer.start()
