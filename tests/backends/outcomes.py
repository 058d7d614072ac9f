"""How the backend tests run a pipeline and compare what it gave, whatever backend ran it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import sluiceway
from sluiceway.core import ir
from sluiceway.engine.engine import RunReport
from sluiceway.testing import observed


def run_on(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    compiled: ir.Pipeline,
    arguments: dict[str, Any],
    config: Path | None = None,
    **options: Any,
) -> RunReport:
    """Run `compiled` with its own Sluiceway home and configuration file (None: the embedded default)."""
    monkeypatch.setenv("SLUICEWAY_HOME", str(home))
    if config is None:
        monkeypatch.delenv("SLUICEWAY_CONFIG", raising=False)
    else:
        monkeypatch.setenv("SLUICEWAY_CONFIG", str(config))
    return sluiceway.run(compiled, arguments, **options)


def outcome(report: RunReport) -> dict[str, Any]:
    """What a run gave, whatever ran it: the conformance suite's view (run state; each task's state, skip reason,
    attempts, error kind, values, artifact digests and metadata)."""
    return observed(report)


def secrets_named(pipeline_ir: ir.Pipeline) -> set[str]:
    """The Kubernetes Secrets a pipeline's tasks read (an operator creates them before a run)."""
    graphs = [
        pipeline_ir.nodes,
        *(c.implementation.nodes for c in pipeline_ir.components.values() if isinstance(c.implementation, ir.Graph)),
    ]
    return {secret.secret for nodes in graphs for task in ir.tasks_in(nodes) for secret in task.settings.secrets}


def after(ready: Callable[[], Any], action: Callable[[], Any], timeout: float = 60.0) -> threading.Thread:
    """Do `action` on a thread once `ready()` holds (a fault or a cancel while a run is under way)."""

    def wait_then_act() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                action()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    return thread
