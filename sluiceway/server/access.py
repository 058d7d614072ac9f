"""Who is asking, and what they may touch: the one place the API decides.

Every `/api/v1` route depends on `principal` (app.py adds it to each API router), so a request
without valid credentials is answered 401 before any route runs. Routes then reach records
through `Access`, which answers a record of a namespace the principal cannot see exactly as
it answers an id that does not exist (404, the same words), so nothing about other
namespaces leaks; a role too low for the operation, in a namespace the principal can see, is
403. With `server.auth.enabled: false`, every request is ANONYMOUS, which may do anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ..core.access import ANONYMOUS, Principal, Role
from ..stores.sql.catalog import ExperimentRecord, PipelineRecord
from ..stores.sql.recurring import RecurringRunRecord
from ..stores.sql.store import NotFound, RunSummary
from .problems import ApiProblem
from .services import Services, services_of

# Declares the scheme in the OpenAPI document (components.securitySchemes, each operation's `security`); the credentials
# themselves are read by the auth plugins, from all the headers, since an operator's identity system may use others.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token (`slw_...`, made by `sluiceway tokens create`), or what the server's auth plugin takes.",
)


async def principal(request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    """Who sent the request, as the auth plugins say (newest plugin first, the built-in tokens last); 401 when none knows."""
    given = services_of(request)  # not a dependency: FastAPI's solving each costs every request of the API (see `access`)
    if not given.settings.server.auth.enabled:
        return ANONYMOUS
    # The plugins may block (the built-in asks the store): on a worker thread, not the event loop.
    found: Principal | None = await run_in_threadpool(given.plugins.hook.authenticate, headers=request.headers, store=given.store)
    if found is not None:
        return found
    if "authorization" not in request.headers:
        raise HTTPException(
            401,
            "this server needs credentials: send `Authorization: Bearer TOKEN` (`sluiceway tokens create` makes a token)",
            headers={"WWW-Authenticate": 'Bearer realm="sluiceway"'},
        )
    raise HTTPException(
        401,
        "the credentials are not valid: the token is unknown, revoked or mistyped",
        headers={"WWW-Authenticate": 'Bearer realm="sluiceway", error="invalid_token"'},
    )


@dataclass(frozen=True)
class Access:
    """The records a request may reach, each checked against the principal's role in the record's namespace."""

    principal: Principal
    given: Services

    def require(self, namespace: str, role: Role, *, unseen: str) -> None:
        """Go on if the principal has `role` (or more) in `namespace`. A namespace it cannot see is NotFound(`unseen`),
        which must read as the record's own not-found message does; a lower role is 403."""
        have = self.principal.role_in(namespace)
        if have is None:
            raise NotFound(unseen)
        if not have.includes(role):
            raise ApiProblem(403, f"{self.principal.name} is {have.value} in namespace '{namespace}'; this needs {role.value}")

    def namespace(self, namespace: str, role: Role) -> str:
        """A namespace to list or create in."""
        self.require(namespace, role, unseen=f"no namespace '{namespace}' for {self.principal.name}")
        return namespace

    def run(self, run_id: str, role: Role) -> RunSummary:
        run = self.given.store.get_run(run_id)
        self.require(run.namespace, role, unseen=f"no run '{run_id}'")
        return run

    def pipeline(self, pipeline_id: str, role: Role) -> PipelineRecord:
        pipeline = self.given.catalog.get_pipeline(pipeline_id)
        self.require(pipeline.namespace, role, unseen=f"no pipeline '{pipeline_id}'")
        return pipeline

    def experiment(self, experiment_id: str, role: Role) -> ExperimentRecord:
        experiment = self.given.catalog.get_experiment(experiment_id)
        self.require(experiment.namespace, role, unseen=f"no experiment '{experiment_id}'")
        return experiment

    def recurring_run(self, recurring_id: str, role: Role) -> RecurringRunRecord:
        recurring = self.given.recurring.get(recurring_id)
        self.require(recurring.namespace, role, unseen=f"no recurring run '{recurring_id}'")
        return recurring


async def access(request: Request, who: Annotated[Principal, Depends(principal)]) -> Access:
    # async: it does not block (`principal`, which may ask the store, stays a worker thread's). Its few dependencies are
    # few on purpose: FastAPI solves a dependency's own dependencies anew each time it is named, cached or not, and that
    # is a good part of what a request as light as getting a run costs (bench/server.py).
    return Access(who, services_of(request))


Allowed = Annotated[Access, Depends(access)]
"""What a route declares to reach records: `def get_run(run_id: str, allowed: Allowed)`."""
