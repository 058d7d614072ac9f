"""What the client returns: the API's records as plain frozen dataclasses, read from its JSON.

Fields a newer server adds are ignored, so an older client keeps working against it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

FINAL_RUN_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


def _time(text: str | None) -> datetime | None:
    # datetime.fromisoformat reads a trailing Z from Python 3.11 on only
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


R = TypeVar("R")


def build(record: type[R], data: dict[str, Any], nested: dict[str, type[Any]] | None = None) -> R:
    """A dataclass from the API's JSON: known fields only, times (`*_at`) as aware datetimes, and the lists of records
    named in `nested` (field -> its records' class) as tuples of them."""
    known = {f.name for f in dataclasses.fields(record)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            continue
        if nested and name in nested:
            values[name] = tuple(build(nested[name], item) for item in value)
        else:
            values[name] = _time(value) if name.endswith("_at") else value
    return record(**values)


@dataclass(frozen=True)
class Experiment:
    id: str
    namespace: str
    name: str
    description: str
    archived: bool
    created_at: datetime


@dataclass(frozen=True)
class Pipeline:
    id: str
    namespace: str
    name: str
    description: str
    created_at: datetime


@dataclass(frozen=True)
class PipelineVersion:
    pipeline_id: str
    digest: str
    """The IR's content digest: the version's identity within its pipeline."""
    pipeline_name: str
    created_at: datetime


@dataclass(frozen=True)
class Task:
    task_id: str
    kind: str
    state: str
    skip_reason: str | None
    message: str
    error_kind: str | None
    attempts: int
    outputs: dict[str, Any]


@dataclass(frozen=True)
class Run:
    id: str
    namespace: str
    experiment: str | None
    pipeline_name: str
    pipeline_digest: str
    state: str
    parameters: dict[str, Any]
    created_at: datetime
    finished_at: datetime | None
    error_kind: str | None
    message: str
    idempotency_key: str | None = None
    archived: bool = False
    tasks: tuple[Task, ...] = ()
    """Each task's state and outputs: filled by get_run and wait_for_run_completion, empty in lists."""

    @property
    def run_id(self) -> str:
        """The id, by the name KFP's RunPipelineResult gives it."""
        return self.id

    @property
    def finished(self) -> bool:
        return self.state in FINAL_RUN_STATES

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Run:
        return build(cls, data, {"tasks": Task})


@dataclass(frozen=True)
class Attempt:
    number: int
    started_at: datetime
    ended_at: datetime | None
    end: str | None
    exit_code: int | None
    error_kind: str | None
    message: str


@dataclass(frozen=True)
class TaskDetail(Task):
    run_id: str = ""
    attempt_records: tuple[Attempt, ...] = ()
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The scalar metrics of each Metrics output, by output name."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskDetail:
        return build(cls, data, {"attempt_records": Attempt})


@dataclass(frozen=True)
class Artifact:
    uri: str
    type: str
    digest: str | None
    properties: dict[str, Any]
    created_at: datetime
    events: list[dict[str, str]]
    """Each task that produced or consumed it: {kind, run_id, task_id, name}."""


@dataclass(frozen=True)
class RecurringRun:
    id: str
    namespace: str
    name: str
    pipeline_version: dict[str, str]
    """{pipeline_id, digest}: the uploaded version each firing runs."""
    parameters: dict[str, Any]
    experiment: str | None
    trigger: dict[str, Any]
    """{cron, timezone, interval_seconds}: one of cron and interval_seconds is set."""
    start_at: datetime | None
    end_at: datetime | None
    max_concurrency: int
    catch_up: bool
    enabled: bool
    next_fire_at: datetime | None
    created_at: datetime
    updated_at: datetime


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str | None
    """Pass it back as page_token for the next page; None on the last page."""

    @classmethod
    def of(cls, data: dict[str, Any], item: Callable[[dict[str, Any]], T]) -> Page[T]:
        return cls([item(entry) for entry in data["items"]], data.get("next_page_token"))
