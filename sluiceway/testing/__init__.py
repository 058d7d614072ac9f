"""The conformance suite: pipelines covering every IR feature, with the outcome every backend must give them.

A backend author runs it on their backend with pytest (sluiceway.testing.pytest_suite) or with `run_suite`:

    from sluiceway.testing import Target, run_suite
    for result in run_suite(Target("my_backend", {"backend": {"options": {...}}}), Path("/tmp/homes")):
        print(result)

docs/how-to/test-a-backend.md shows both.
"""

from __future__ import annotations

from . import regressions
from .cases import CASES, Case, Step
from .expectations import Content, Run, Task, cached, cancelled, differences, expected, failed, observed, ran, skipped
from .suite import Result, Target, run_case, run_pipeline, run_suite

__all__ = [
    "CASES",
    "Case",
    "Content",
    "Result",
    "Run",
    "Step",
    "Target",
    "Task",
    "cached",
    "cancelled",
    "differences",
    "expected",
    "failed",
    "observed",
    "ran",
    "regressions",
    "run_case",
    "run_pipeline",
    "run_suite",
    "skipped",
]
