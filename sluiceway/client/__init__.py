"""The Python client of a Sluiceway server (extra `client`): `sluiceway.Client(host, token=...)`.

See docs/reference/client.md; the API it speaks is docs/reference/openapi.json.
"""

from __future__ import annotations

from .client import Client
from .errors import ApiError, FieldProblem
from .models import Artifact, Attempt, Experiment, Page, Pipeline, PipelineVersion, RecurringRun, Run, Task, TaskDetail

__all__ = [
    "ApiError",
    "Artifact",
    "Attempt",
    "Client",
    "Experiment",
    "FieldProblem",
    "Page",
    "Pipeline",
    "PipelineVersion",
    "RecurringRun",
    "Run",
    "Task",
    "TaskDetail",
]
