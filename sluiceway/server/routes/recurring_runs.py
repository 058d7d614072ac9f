"""Recurring runs: create, get, list, enable, disable, delete. The scheduler (../scheduler.py) fires them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from ... import local
from ...core import ir
from ...core.access import Role
from ...core.errors import SluicewayError
from ...stores.sql.recurring import RecurringRunRecord
from ...stores.sql.store import ConcurrentUpdate, NotFound
from .. import scheduling
from ..access import Allowed
from ..problems import ApiProblem, FieldError, invalid
from ..scheduler import schedule_of
from ..schemas import NamespacedPageQuery, Page, PipelineVersionRef, RecurringRun, RecurringRunCreate
from ..services import Services, services
from .responses import problems

router = APIRouter(prefix="/api/v1/recurring-runs", tags=["recurring runs"])
Given = Annotated[Services, Depends(services)]
CHANGE_ATTEMPTS = 5
"""How often enable and disable read the record again when the scheduler moved it on meanwhile (once a tick at most)."""


def _now() -> datetime:
    # Whole seconds: scheduled times (and the keys of their runs) then read back the same from every database (MySQL
    # keeps whole seconds), and an interval's grid, anchored at the creation time, stays on whole seconds.
    return datetime.now(timezone.utc).replace(microsecond=0)


@router.post("", status_code=201, response_model=RecurringRun, responses=problems(403, 404, 409))
def create_recurring_run(body: RecurringRunCreate, given: Given, allowed: Allowed, response: Response) -> RecurringRun:
    """Create a recurring run of an uploaded pipeline version; its name must be new in its namespace (409 otherwise)."""
    namespace = allowed.namespace(body.namespace, Role.EDITOR)
    _check_schedule(body)
    try:
        arguments = local.check_arguments(_version_ir(given, namespace, body.pipeline_version), body.parameters)
    except SluicewayError as error:
        raise invalid([FieldError(field="parameters", message=str(error))]) from None
    if body.experiment is not None:
        experiment = given.catalog.experiment_named(namespace, body.experiment, create=True)
        if experiment is not None and experiment.archived:
            raise ApiProblem(409, f"experiment '{body.experiment}' is archived; unarchive it to add runs")
    now = _now()
    fields: dict[str, Any] = {
        "namespace": namespace,
        "name": body.name,
        "pipeline_id": body.pipeline_version.pipeline_id,
        "pipeline_digest": body.pipeline_version.digest,
        "parameters": arguments,
        "experiment": body.experiment,
        "cron": body.trigger.cron,
        "timezone": body.trigger.timezone,
        "interval_seconds": body.trigger.interval_seconds,
        "start_at": _seconds(body.start_at),
        "end_at": _seconds(body.end_at),
        "max_concurrency": body.max_concurrency,
        "catch_up": body.catch_up,
        "enabled": body.enabled,
    }
    schedule = scheduling.Schedule(
        body.trigger.cron,
        body.trigger.timezone,
        body.trigger.interval_seconds,
        fields["start_at"] or now,
        fields["start_at"],
        fields["end_at"],
    )
    made = given.recurring.create(now=now, next_fire_at=scheduling.first_time(schedule, now), **fields)
    response.headers["Location"] = f"{router.prefix}/{made.id}"
    return RecurringRun.of(made)


def _seconds(moment: datetime | None) -> datetime | None:
    """A time given by the client, in UTC, to the whole second (see _now); one without a zone is taken as UTC."""
    if moment is None:
        return None
    aware = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    return aware.replace(microsecond=0)


def _check_schedule(body: RecurringRunCreate) -> None:
    """422 naming each field of the trigger, start and end that cannot make a schedule."""
    trigger, errors = body.trigger, []
    if (trigger.cron is None) == (trigger.interval_seconds is None):
        message = "give exactly one of cron and interval_seconds"
        errors += [FieldError(field="trigger.cron", message=message), FieldError(field="trigger.interval_seconds", message=message)]
    if trigger.cron is not None and (problem := scheduling.cron_problem(trigger.cron)):
        errors.append(FieldError(field="trigger.cron", message=problem))
    if problem := scheduling.timezone_problem(trigger.timezone):
        errors.append(FieldError(field="trigger.timezone", message=problem))
    start, end = _seconds(body.start_at), _seconds(body.end_at)
    if start is not None and end is not None and end <= start:
        errors.append(FieldError(field="end_at", message="must be after start_at"))
    if errors:
        raise invalid(errors)


def _version_ir(given: Services, namespace: str, wanted: PipelineVersionRef) -> ir.Pipeline:
    """The IR of a version of one of the namespace's pipelines; 422 on `pipeline_version` when there is none."""
    try:
        if given.catalog.get_pipeline(wanted.pipeline_id).namespace != namespace:  # another namespace's: not there
            raise NotFound(f"no pipeline '{wanted.pipeline_id}' in namespace '{namespace}'")
        return given.catalog.get_version(wanted.pipeline_id, wanted.digest)[1]
    except NotFound as error:  # a reference in the body to nothing: the request is wrong, not the URL
        raise invalid([FieldError(field="pipeline_version", message=str(error))]) from None


@router.get("", response_model=Page[RecurringRun], responses=problems(400, 404))
def list_recurring_runs(query: Annotated[NamespacedPageQuery, Query()], given: Given, allowed: Allowed) -> Page[RecurringRun]:
    """A namespace's recurring runs, a page at a time. Filter fields: name, enabled, experiment, next_fire_at, created_at;
    sort by name or created_at."""
    page = given.recurring.listing(allowed.namespace(query.namespace, Role.VIEWER), query.listing())
    return Page[RecurringRun](items=[RecurringRun.of(record) for record in page.items], next_page_token=page.next_page_token)


@router.get("/{recurring_run_id}", response_model=RecurringRun, responses=problems(404))
def get_recurring_run(recurring_run_id: str, allowed: Allowed) -> RecurringRun:
    return RecurringRun.of(allowed.recurring_run(recurring_run_id, Role.VIEWER))


@router.post("/{recurring_run_id}/enable", response_model=RecurringRun, responses=problems(403, 404, 409))
def enable_recurring_run(recurring_run_id: str, given: Given, allowed: Allowed) -> RecurringRun:
    """Fire again, from the first scheduled time after now: what was due while disabled is not made up for. Enabling an
    enabled recurring run changes nothing."""

    def enabled(record: RecurringRunRecord) -> dict[str, Any] | None:
        next_time = scheduling.time_after_enabling(schedule_of(record), _now())
        return None if record.enabled else {"enabled": True, "next_fire_at": next_time}

    return RecurringRun.of(_change(given, allowed, recurring_run_id, enabled))


@router.post("/{recurring_run_id}/disable", response_model=RecurringRun, responses=problems(403, 404, 409))
def disable_recurring_run(recurring_run_id: str, given: Given, allowed: Allowed) -> RecurringRun:
    """Fire no more until enabled; runs it made go on. Disabling a disabled recurring run changes nothing."""
    return RecurringRun.of(_change(given, allowed, recurring_run_id, lambda record: {"enabled": False} if record.enabled else None))


def _change(
    given: Services, allowed: Allowed, recurring_id: str, changes: Callable[[RecurringRunRecord], dict[str, Any] | None]
) -> RecurringRunRecord:
    """Apply `changes` (None: none needed) to the record as it is now, reading it again when the scheduler moved it on."""
    for _ in range(CHANGE_ATTEMPTS):
        record = allowed.recurring_run(recurring_id, Role.EDITOR)
        wanted = changes(record)
        if wanted is None:
            return record
        try:
            return given.recurring.update(recurring_id, record.version, **wanted)
        except ConcurrentUpdate:
            continue
    raise ApiProblem(409, f"recurring run '{recurring_id}' keeps changing under this request; try again")


@router.delete("/{recurring_run_id}", status_code=204, responses=problems(403, 404))
def delete_recurring_run(recurring_run_id: str, given: Given, allowed: Allowed) -> None:
    """Delete a recurring run: it fires no more; the runs it made are kept."""
    allowed.recurring_run(recurring_run_id, Role.ADMIN)
    given.recurring.delete(recurring_run_id)
