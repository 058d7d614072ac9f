"""Reading what runs leave, as the server's result endpoints need it: one task's state, one artifact's record with its
lineage events, and the lineage edges of a run.

The writes stay in store.py (a task's outputs and inputs are recorded with its state); these
reads are kept apart so that store.py does not grow by a concern it does not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from .models import Artifact, LineageEvent, Run, TaskRecord
from .store import NotFound, SqlMetadataStore, _aware, _retried_on_disconnect, uri_key


@dataclass(frozen=True)
class LineageEventRecord:
    kind: str
    """'produced' or 'consumed'."""
    run_id: str
    task_id: str
    name: str
    """The output or input name the artifact went by."""


@dataclass(frozen=True)
class ArtifactRecord:
    uri: str
    type: str
    digest: str | None
    """sha256 of the content, as its producer recorded it; None when unknown."""
    properties: dict[str, Any]
    """What the producer said of it (a Metrics artifact's metrics, ...)."""
    created_at: datetime
    events: list[LineageEventRecord]


@dataclass(frozen=True)
class RunLineage:
    artifacts: list[str]
    """Every artifact the run's tasks produced or consumed."""
    edges: list[tuple[str, str]]
    """(from, to) between artifact URIs and 'run/task' names: artifact -> task it fed, task -> artifact it made."""


@_retried_on_disconnect
def task_and_run_state(store: SqlMetadataStore, run_id: str, task_id: str) -> tuple[str | None, str]:
    """(the task's state, or None while it has no record; the run's state), in one transaction: what a log follower
    asks several times a second, so one row each, by primary key."""
    with store.transaction() as session:
        run = session.get(Run, run_id)
        if run is None:
            raise NotFound(f"no run '{run_id}'")
        task = session.get(TaskRecord, (run_id, task_id))
        return (task.state if task else None), run.state


@_retried_on_disconnect
def artifact_record(store: SqlMetadataStore, uri: str) -> ArtifactRecord:
    """The artifact recorded at `uri`, with every event of it; NotFound when no run recorded one there."""
    with store.transaction() as session:
        row = session.scalars(select(Artifact).where(Artifact.uri_key == uri_key(uri))).first()
        if row is None:
            raise NotFound(f"no artifact recorded at {uri}")
        events = session.scalars(select(LineageEvent).where(LineageEvent.artifact_id == row.id).order_by(LineageEvent.id))
        return ArtifactRecord(
            uri=row.uri,
            type=row.type,
            digest=row.digest,
            properties=dict(row.properties or {}),
            created_at=_aware(row.created_at),
            events=[LineageEventRecord(e.kind, e.run_id, e.task_id, e.name) for e in events],
        )


@_retried_on_disconnect
def run_lineage(store: SqlMetadataStore, run_id: str) -> RunLineage:
    """The artifacts a run's tasks consumed and produced, as edges; NotFound for an unknown run."""
    with store.transaction() as session:
        if session.get(Run, run_id) is None:
            raise NotFound(f"no run '{run_id}'")
        rows = session.execute(
            select(LineageEvent.kind, LineageEvent.task_id, Artifact.uri)
            .join(Artifact)
            .where(LineageEvent.run_id == run_id)
            .order_by(LineageEvent.id)
        ).all()
    edges: dict[tuple[str, str], None] = {}  # dicts as ordered sets: first seen first, each once
    artifacts: dict[str, None] = {}
    for kind, task_id, uri in rows:
        task = f"{run_id}/{task_id}"
        edges[(task, uri) if kind == "produced" else (uri, task)] = None
        artifacts[uri] = None
    return RunLineage(list(artifacts), list(edges))
