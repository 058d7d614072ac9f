"""The API's request and response bodies. Every model forbids fields it does not define, so a misspelt field is an error
that names it rather than a setting silently ignored."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..core.access import NAMESPACE_PATTERN
from ..stores.sql.listing import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ListRequest
from ..stores.sql.models import DEFAULT_NAMESPACE
from ..stores.sql.recurring import RecurringRunRecord

Namespace = Annotated[
    str,
    StringConstraints(pattern=NAMESPACE_PATTERN),
    Field(description="A namespace: a DNS label (lower-case letters, digits and '-', at most 63), as Kubernetes names one."),
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Description = Annotated[str, StringConstraints(max_length=10_000)]


class Model(BaseModel):
    # Responses are read from the store's records by attribute (Run.model_validate(summary)): the API's shapes are its
    # own, so a change to the store's records cannot change the API unnoticed.
    model_config = ConfigDict(extra="forbid", from_attributes=True)


# --- listing -----------------------------------------------------------------------------------


class PageQuery(Model):
    """The one listing scheme of every list endpoint (see docs/how-to/run-a-server.md)."""

    filter: Annotated[str, StringConstraints(max_length=2000)] = Field(
        "", description='Comparisons joined by AND, e.g. `state = "SUCCEEDED" AND created_at > "2026-11-01T00:00:00Z"`.'
    )
    order_by: Annotated[str, StringConstraints(max_length=100)] = Field(
        "", description="`FIELD` or `FIELD asc|desc`; default newest first."
    )
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    page_token: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        None, description="The `next_page_token` of the previous page, with the same order_by."
    )

    def listing(self) -> ListRequest:
        return ListRequest(filter=self.filter, order_by=self.order_by, page_size=self.page_size, page_token=self.page_token)


class NamespacedPageQuery(PageQuery):
    namespace: Namespace = DEFAULT_NAMESPACE


T = TypeVar("T")


class Page(Model, Generic[T]):
    items: list[T]
    next_page_token: str | None = Field(description="Pass it back as page_token for the next page; null on the last page.")


M = TypeVar("M", bound=Model)


def page_of(model: type[M], records: Iterable[object], next_page_token: str | None) -> Page[M]:
    """A page of the store's records, as the API shows them."""
    return Page[model](items=[model.model_validate(record) for record in records], next_page_token=next_page_token)  # type: ignore[valid-type]


# --- experiments -------------------------------------------------------------------------------


class ExperimentCreate(Model):
    namespace: Namespace = DEFAULT_NAMESPACE
    name: Name
    description: Description = ""


class Experiment(Model):
    id: str
    namespace: str
    name: str
    description: str
    archived: bool
    created_at: datetime


# --- pipelines ---------------------------------------------------------------------------------


class UploadQuery(Model):
    namespace: Namespace = DEFAULT_NAMESPACE
    name: Name | None = Field(None, description="The pipeline to add the version to (default: the name the IR gives).")
    description: Description = Field("", description="The pipeline's description, when the upload creates it.")


class Pipeline(Model):
    id: str
    namespace: str
    name: str
    description: str
    created_at: datetime


class PipelineVersion(Model):
    pipeline_id: str
    digest: str = Field(description="The IR's content digest: the version's identity within its pipeline.")
    pipeline_name: str = Field(description="The name the IR gives the pipeline.")
    created_at: datetime


class PipelineVersionDetail(PipelineVersion):
    pipeline_spec: dict[str, Any] = Field(description="The IR, as JSON.")


# --- runs --------------------------------------------------------------------------------------


class PipelineVersionRef(Model):
    pipeline_id: str
    digest: str


class RunCreate(Model):
    namespace: Namespace = DEFAULT_NAMESPACE
    experiment: Name | None = Field(None, description="The experiment to record the run under, by name; made if the namespace has none.")
    pipeline_version: PipelineVersionRef | None = Field(None, description="Run an uploaded version (or give pipeline_spec).")
    pipeline_spec: dict[str, Any] | None = Field(None, description="Run this IR, as JSON (or give pipeline_version).")
    parameters: dict[str, Any] = {}
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        None,
        description="Chosen by the client: creating a run again with the same key (in the namespace) returns the run made "
        "the first time instead of making another, so a create can be retried safely.",
    )


class Task(Model):
    task_id: str
    kind: str
    state: str
    skip_reason: str | None
    message: str
    error_kind: str | None
    attempts: int
    outputs: dict[str, Any]


class Run(Model):
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
    idempotency_key: str | None
    archived: bool


class RunDetail(Run):
    tasks: list[Task]


# --- recurring runs ----------------------------------------------------------------------------


class Trigger(Model):
    """When a recurring run fires: exactly one of `cron` (read in `timezone`) and `interval_seconds`."""

    cron: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        None, description="A cron expression: `MIN HOUR DAY MONTH WEEKDAY` (a sixth field adds seconds), e.g. `0 9 * * 1-5`."
    )
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        "UTC", description="The IANA time zone the cron expression is read in, e.g. `Europe/Berlin`."
    )
    interval_seconds: int | None = Field(None, ge=1, description="Fire every this many seconds, from start_at (or from creation).")


class RecurringRunCreate(Model):
    namespace: Namespace = DEFAULT_NAMESPACE
    name: Name
    pipeline_version: PipelineVersionRef
    parameters: dict[str, Any] = {}
    experiment: Name | None = Field(None, description="The experiment its runs are recorded under, by name; made if new.")
    trigger: Trigger
    start_at: datetime | None = Field(None, description="No firing before this time; with catch_up, times since it are made up for.")
    end_at: datetime | None = Field(None, description="No firing after this time.")
    max_concurrency: int = Field(1, ge=1, le=100, description="At most this many of its runs unfinished: a firing waits for room.")
    catch_up: bool = Field(False, description="After an outage or a wait, fire every missed time in order (else only the latest).")
    enabled: bool = True


class RecurringRun(Model):
    id: str
    namespace: str
    name: str
    pipeline_version: PipelineVersionRef
    parameters: dict[str, Any]
    experiment: str | None
    trigger: Trigger
    start_at: datetime | None
    end_at: datetime | None
    max_concurrency: int
    catch_up: bool
    enabled: bool
    next_fire_at: datetime | None = Field(description="The next scheduled time; null once the schedule has ended.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: RecurringRunRecord) -> RecurringRun:
        """The API's shape of a store record, whose version and trigger are flat columns."""
        version = PipelineVersionRef(pipeline_id=record.pipeline_id, digest=record.pipeline_digest)
        trigger = Trigger(cron=record.cron, timezone=record.timezone, interval_seconds=record.interval_seconds)
        names = set(cls.model_fields) - {"pipeline_version", "trigger"}
        return cls(pipeline_version=version, trigger=trigger, **{name: getattr(record, name) for name in names})


# --- operations --------------------------------------------------------------------------------


class Health(Model):
    status: str
