"""The bodies of what runs leave behind: a task's attempts, outputs and metrics; artifacts; lineage graphs.

Beside schemas.py rather than in it: these are read-only views of the records runs make, and
they grow with the results API, not with the resources clients create.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from .schemas import Model, Task

METRICS_TYPES = ("Metrics",)
"""Artifact types whose metadata are scalar metrics (dsl.Metrics.log_metric)."""


class Attempt(Model):
    number: int
    started_at: datetime
    ended_at: datetime | None
    end: str | None = Field(description="How the attempt ended: succeeded, failed, lost, ...; null while it runs.")
    exit_code: int | None
    error_kind: str | None
    message: str


class TaskDetail(Task):
    run_id: str
    attempt_records: list[Attempt] = Field(description="Every attempt, first to last.")
    metrics: dict[str, dict[str, Any]] = Field(
        description="The scalar metrics of each Metrics output, by output name (what the task logged with log_metric)."
    )


def metrics_of(outputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The metadata of each output that is a Metrics artifact (a list of them gives the last's)."""
    found: dict[str, dict[str, Any]] = {}
    for name, binding in outputs.items():
        for artifact in binding.get("artifacts", ()) if isinstance(binding, dict) else ():
            if artifact.get("type") in METRICS_TYPES:
                found[name] = dict(artifact.get("metadata") or {})
    return found


class LineageEvent(Model):
    kind: str = Field(description="produced or consumed.")
    run_id: str
    task_id: str
    name: str = Field(description="The output or input name the artifact went by.")


class Artifact(Model):
    uri: str
    type: str
    digest: str | None = Field(description="sha256 of the content, as its producer recorded it; null when unknown.")
    properties: dict[str, Any] = Field(description="What the producer said of it (a Metrics artifact's metrics, ...).")
    created_at: datetime
    events: list[LineageEvent] = Field(description="Every task that produced or consumed it, in the order recorded.")


class Edge(Model):
    source: str = Field(description="An artifact URI, or a task as RUN/TASK.")
    target: str


class ArtifactLineage(Model):
    artifact: str
    upstream: list[Edge] = Field(description="The task that made it, what that task consumed, their makers, ...")
    downstream: list[Edge] = Field(description="The tasks that consumed it, what they made, their consumers, ...")


class RunLineage(Model):
    run_id: str
    artifacts: list[str] = Field(description="Every artifact the run's tasks produced or consumed.")
    edges: list[Edge] = Field(description="artifact -> the task it fed; task -> the artifact it made.")


def edges(pairs: list[tuple[str, str]], runs: set[str] | None = None) -> list[Edge]:
    """The pairs as edges; with `runs`, only those whose tasks (RUN/TASK, not URIs) are of these runs."""

    def shown(node: str) -> bool:
        return runs is None or "://" in node or node.partition("/")[0] in runs

    return [Edge(source=source, target=target) for source, target in pairs if shown(source) and shown(target)]
