"""What a run's tasks leave: each task's attempts, outputs and metrics, its log (followed while it runs), and the run's
lineage graph."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from ...core.access import Role
from ...stores.sql.results import run_lineage
from ...stores.sql.store import NotFound
from ..access import Allowed
from ..result_schemas import Attempt, RunLineage, TaskDetail, edges, metrics_of
from ..schemas import Task
from ..services import Services, services
from ..task_logs import check_task, stream_log
from .responses import problems

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])
Given = Annotated[Services, Depends(services)]

LOG_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The log as plain text; chunked while it is followed.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


# Registered before the task route: a task id may hold `/` (`LOOP/0/TASK`), so `{task_id:path}` alone would take `/logs`.
@router.get("/{run_id}/tasks/{task_id:path}/logs", response_class=StreamingResponse, responses={**LOG_RESPONSE, **problems(404)})
async def task_logs(
    run_id: str,
    task_id: str,
    given: Given,
    allowed: Allowed,
    follow: Annotated[bool, Query(description="Keep sending what the task writes until it is final; false: what exists now.")] = True,
) -> StreamingResponse:
    """A task's log, every attempt, as plain text. Followed (the default), the response stays open and sends each line
    as the task writes it, ending when the task (or its run) is final."""
    await run_in_threadpool(allowed.run, run_id, Role.VIEWER)
    path = await run_in_threadpool(check_task, given.store, run_id, task_id)
    chunks = stream_log(given.store, run_id, task_id, path, follow_until_final=follow)
    # No buffering by proxies that honour it (nginx): a followed log is read as it comes.
    return StreamingResponse(chunks, media_type="text/plain; charset=utf-8", headers={"X-Accel-Buffering": "no"})


@router.get("/{run_id}/tasks/{task_id:path}", response_model=TaskDetail, responses=problems(404))
def get_task(run_id: str, task_id: str, given: Given, allowed: Allowed) -> TaskDetail:
    """A task of a run: its state, every attempt, its outputs, and the metrics of its Metrics outputs."""
    allowed.run(run_id, Role.VIEWER)  # NotFound names the run when it is the run that is unknown
    task = next((t for t in given.store.tasks(run_id) if t.task_id == task_id), None)
    if task is None:
        raise NotFound(f"run '{run_id}' has no task '{task_id}' (yet: a task is recorded when it starts or is skipped)")
    attempts = [Attempt.model_validate(a) for a in given.store.attempts(run_id, task_id)]
    shown = Task.model_validate(task)
    return TaskDetail(**shown.model_dump(), run_id=run_id, attempt_records=attempts, metrics=metrics_of(shown.outputs))


@router.get("/{run_id}/lineage", response_model=RunLineage, responses=problems(404))
def get_run_lineage(run_id: str, given: Given, allowed: Allowed) -> RunLineage:
    """The artifacts the run's tasks consumed and produced, as a graph's edges."""
    allowed.run(run_id, Role.VIEWER)
    found = run_lineage(given.store, run_id)
    return RunLineage(run_id=run_id, artifacts=found.artifacts, edges=edges(found.edges))
