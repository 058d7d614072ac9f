"""Experiments: create, get, list, archive, unarchive, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from ...core.access import Role
from ..access import Allowed
from ..schemas import Experiment, ExperimentCreate, NamespacedPageQuery, Page, page_of
from ..services import Services, services
from .responses import problems

router = APIRouter(prefix="/api/v1/experiments", tags=["experiments"])
Given = Annotated[Services, Depends(services)]


@router.post("", status_code=201, response_model=Experiment, responses=problems(403, 404, 409))
def create_experiment(body: ExperimentCreate, given: Given, allowed: Allowed, response: Response) -> Experiment:
    """Create an experiment; its name must be new in its namespace (409 otherwise)."""
    namespace = allowed.namespace(body.namespace, Role.EDITOR)
    made = Experiment.model_validate(given.catalog.create_experiment(namespace, body.name, body.description))
    response.headers["Location"] = f"{router.prefix}/{made.id}"
    return made


@router.get("", response_model=Page[Experiment], responses=problems(400, 404))
def list_experiments(query: Annotated[NamespacedPageQuery, Query()], given: Given, allowed: Allowed) -> Page[Experiment]:
    """A namespace's experiments, a page at a time. Filter fields: name, archived, created_at; sort by name or created_at."""
    page = given.catalog.list_experiments(allowed.namespace(query.namespace, Role.VIEWER), query.listing())
    return page_of(Experiment, page.items, page.next_page_token)


@router.get("/{experiment_id}", response_model=Experiment, responses=problems(404))
def get_experiment(experiment_id: str, allowed: Allowed) -> Experiment:
    return Experiment.model_validate(allowed.experiment(experiment_id, Role.VIEWER))


@router.post("/{experiment_id}/archive", response_model=Experiment, responses=problems(403, 404))
def archive_experiment(experiment_id: str, given: Given, allowed: Allowed) -> Experiment:
    """Archive an experiment: it is kept, with its runs, and new runs cannot name it. Archiving twice is harmless."""
    allowed.experiment(experiment_id, Role.EDITOR)
    return Experiment.model_validate(given.catalog.set_archived(experiment_id, True))


@router.post("/{experiment_id}/unarchive", response_model=Experiment, responses=problems(403, 404))
def unarchive_experiment(experiment_id: str, given: Given, allowed: Allowed) -> Experiment:
    allowed.experiment(experiment_id, Role.EDITOR)
    return Experiment.model_validate(given.catalog.set_archived(experiment_id, False))


@router.delete("/{experiment_id}", status_code=204, responses=problems(403, 404, 409))
def delete_experiment(experiment_id: str, given: Given, allowed: Allowed) -> None:
    """Delete an experiment no run names (409 otherwise: archive it instead)."""
    allowed.experiment(experiment_id, Role.ADMIN)
    given.catalog.delete_experiment(experiment_id)
