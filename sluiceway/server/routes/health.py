"""`/healthz` (the process answers) and `/readyz` (it can serve: its database answers and it is not stopping)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import text

from ..problems import ApiProblem
from ..schemas import Health
from ..services import Services, services
from .responses import problems

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """Liveness: the process is up and answering."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=problems(503))
def readyz(given: Annotated[Services, Depends(services)]) -> Health:
    """Readiness: the metadata database answers, and the server is not stopping."""
    try:
        with given.store.transaction() as session:
            session.execute(text("SELECT 1"))
    except Exception as error:
        raise ApiProblem(503, f"the metadata database does not answer: {type(error).__name__}") from None
    if given.supervisor.stopping:
        raise ApiProblem(503, "the server is stopping")
    return Health(status="ready")
