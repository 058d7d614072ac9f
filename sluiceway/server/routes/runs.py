"""Runs: create (from an uploaded version or inline IR), get, list, cancel, retry, archive, unarchive, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from ... import local
from ...core import ir
from ...core.access import Role
from ...core.errors import SluicewayError
from ...core.lifecycle import TERMINAL_RUN_STATES, RunState
from ...core.serialize import digest, from_dict
from ...core.validation import validate
from ...stores.sql.store import KeyTaken, NotFound
from ..access import Allowed
from ..problems import IDEMPOTENCY_KEY_REUSED, ApiProblem, FieldError, invalid
from ..schemas import NamespacedPageQuery, Page, Run, RunCreate, RunDetail, page_of
from ..services import Services, services
from ..supervisor import AlreadyRunning
from .responses import problems

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])
Given = Annotated[Services, Depends(services)]
RUN_FIELDS = tuple(Run.model_fields)
FINAL = {state.value for state in TERMINAL_RUN_STATES}
RETRYABLE = {RunState.FAILED.value, RunState.CANCELLED.value}


@router.post(
    "",
    status_code=201,
    response_model=Run,
    responses={
        200: {"model": Run, "description": "A run was created with this idempotency key before: that run."},
        **problems(403, 404, 409, 503),
    },
)
def create_run(body: RunCreate, given: Given, allowed: Allowed, response: Response) -> Run:
    """Create a run and start it. With an idempotency key, a retried create returns the run made the first time."""
    allowed.namespace(body.namespace, Role.EDITOR)
    pipeline = _pipeline(body, given)
    try:
        arguments = local.check_arguments(pipeline, body.parameters)
    except SluicewayError as error:
        raise invalid([FieldError(field="parameters", message=str(error))]) from None
    if body.experiment is not None:
        experiment = given.catalog.experiment_named(body.namespace, body.experiment, create=True)
        if experiment is not None and experiment.archived:
            raise ApiProblem(409, f"experiment '{body.experiment}' is archived; unarchive it to add runs")
    if given.supervisor.stopping:  # a run recorded now would wait for a server to take it up (not built yet)
        raise ApiProblem(503, "the server is stopping; create the run again on a server that is not")
    run_id = local.new_run_id(pipeline)
    try:
        given.store.create_run(
            run_id, pipeline, arguments, namespace=body.namespace, experiment=body.experiment, idempotency_key=body.idempotency_key
        )
    except KeyTaken as taken:
        earlier = given.store.get_run(taken.run_id)
        if earlier.pipeline_digest != digest(pipeline) or earlier.parameters != arguments or earlier.experiment != body.experiment:
            raise ApiProblem(
                409,
                f"idempotency key {body.idempotency_key!r} was used for run '{taken.run_id}', with another pipeline, parameters or "
                "experiment; use a new key for a new run",
                type=IDEMPOTENCY_KEY_REUSED,
            ) from None
        response.status_code = 200
        response.headers["Location"] = f"{router.prefix}/{earlier.id}"
        return Run.model_validate(earlier)
    given.supervisor.start(run_id)
    response.headers["Location"] = f"{router.prefix}/{run_id}"
    return Run.model_validate(given.store.get_run(run_id))


def _pipeline(body: RunCreate, given: Services) -> ir.Pipeline:
    """The validated IR the run is to run: an uploaded version's, or the inline one."""
    if (body.pipeline_version is None) == (body.pipeline_spec is None):
        message = "give exactly one of pipeline_version and pipeline_spec"
        raise invalid([FieldError(field="pipeline_version", message=message), FieldError(field="pipeline_spec", message=message)])
    if body.pipeline_version is not None:
        wanted = body.pipeline_version
        try:
            if given.catalog.get_pipeline(wanted.pipeline_id).namespace != body.namespace:  # another namespace's: not there
                raise NotFound(f"no pipeline '{wanted.pipeline_id}' in namespace '{body.namespace}'")
            return given.catalog.get_version(wanted.pipeline_id, wanted.digest)[1]
        except NotFound as error:  # a reference in the body to nothing: the request is wrong, not the URL
            raise invalid([FieldError(field="pipeline_version", message=str(error))]) from None
    spec: dict[str, Any] = body.pipeline_spec or {}
    return validate(from_dict(spec, origin="pipeline_spec"))


@router.get("", response_model=Page[Run], responses=problems(400, 404))
def list_runs(query: Annotated[NamespacedPageQuery, Query()], given: Given, allowed: Allowed) -> Page[Run]:
    """A namespace's runs, a page at a time, newest first unless order_by says otherwise.

    Filter fields: state, pipeline_name, pipeline_digest, experiment, error_kind, created_at, finished_at, archived.
    Archived runs are left out unless the filter names `archived` (`archived = true`: only them).
    Sort by created_at, pipeline_name or state."""
    page = given.store.query_runs(allowed.namespace(query.namespace, Role.VIEWER), query.listing())
    return page_of(Run, page.runs, page.next_page_token)


@router.get("/{run_id}", response_model=RunDetail, responses=problems(404))
def get_run(run_id: str, allowed: Allowed) -> Response:
    """A run, with the state, attempts and outputs of each of its tasks."""
    # The most asked-for request of all: one read, no dependency more than it needs (the services are the Access's), the
    # response validated once and serialized once (returned as a model, it would be validated and serialized again).
    run, tasks = allowed.given.store.run_with_tasks(run_id)
    allowed.require(run.namespace, Role.VIEWER, unseen=f"no run '{run_id}'")
    fields = {name: getattr(run, name) for name in RUN_FIELDS}
    detail = RunDetail.model_validate({**fields, "tasks": tasks}, from_attributes=True)
    return Response(detail.model_dump_json(), media_type="application/json")


@router.post("/{run_id}/cancel", status_code=202, response_model=Run, responses=problems(403, 404, 409))
def cancel_run(run_id: str, given: Given, allowed: Allowed) -> Run:
    """Ask a run to stop: running tasks are stopped, exit tasks still run. 409 when the run has already ended."""
    run = allowed.run(run_id, Role.EDITOR)
    if run.state not in FINAL and run.state != RunState.CANCELLING.value and not given.supervisor.cancel(run_id):
        run = given.store.get_run(run_id)  # it may have ended meanwhile
        if run.state not in FINAL:
            raise ApiProblem(409, f"run '{run_id}' is {run.state}, but this server is not running it (another process is); cancel it there")
    if run.state in FINAL:
        raise ApiProblem(409, f"run '{run_id}' is {run.state}; only a pending or running run can be cancelled")
    return Run.model_validate(given.store.get_run(run_id))


@router.post("/{run_id}/retry", status_code=202, response_model=Run, responses=problems(403, 404, 409, 503))
def retry_run(run_id: str, given: Given, allowed: Allowed) -> Run:
    """Run a failed or cancelled run again from the tasks that did not succeed, keeping the rest (as `sluiceway runs retry`
    does). 409 for a run in any other state."""
    run = allowed.run(run_id, Role.EDITOR)
    if run.state not in RETRYABLE:
        raise ApiProblem(409, f"run '{run_id}' is {run.state}; only a failed or cancelled run can be retried")
    if given.supervisor.stopping:
        raise ApiProblem(503, "the server is stopping; retry the run on a server that is not")
    try:
        given.supervisor.retry(run_id)
    except AlreadyRunning:
        raise ApiProblem(409, f"run '{run_id}' is being run by this server already") from None
    except RuntimeError:  # the server began stopping since the check above
        raise ApiProblem(503, "the server is stopping; retry the run on a server that is not") from None
    return Run.model_validate(given.store.get_run(run_id))


@router.post("/{run_id}/archive", response_model=Run, responses=problems(403, 404))
def archive_run(run_id: str, given: Given, allowed: Allowed) -> Run:
    """Archive a run: it is kept, whole, and left out of run listings unless their filter names `archived`. Archiving
    twice is harmless."""
    allowed.run(run_id, Role.EDITOR)
    return Run.model_validate(given.store.set_run_archived(run_id, True))


@router.post("/{run_id}/unarchive", response_model=Run, responses=problems(403, 404))
def unarchive_run(run_id: str, given: Given, allowed: Allowed) -> Run:
    allowed.run(run_id, Role.EDITOR)
    return Run.model_validate(given.store.set_run_archived(run_id, False))


@router.delete("/{run_id}", status_code=204, responses=problems(403, 404, 409))
def delete_run(run_id: str, given: Given, allowed: Allowed) -> None:
    """Delete a run that has ended (409 otherwise: cancel it first) with its tasks, attempts, outputs, lineage events and
    cache entries. Its artifacts and logs stay where they were written."""
    allowed.run(run_id, Role.ADMIN)
    given.store.delete_run(run_id)
