"""The ASGI application: the API's routes, its error shape, its body limit, and the run supervisor's lifetime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from .. import __version__, config, local
from ..plugins import PluginManager
from ..stores.sql.catalog import SqlCatalog
from ..stores.sql.recurring import SqlRecurringRuns
from . import problems
from .access import principal
from .limits import BodySizeLimit
from .metrics import RequestLatency, ServerMetrics
from .openapi import install_openapi
from .routes import artifacts, experiments, health, metrics, pipelines, recurring_runs, runs, tasks
from .routes.responses import problems as problems_of
from .scheduler import RecurringScheduler
from .services import Services
from .supervisor import RunSupervisor

logger = logging.getLogger(__name__)


def warn_if_open(settings: config.Config) -> None:
    """Say loudly at start-up that the API is open to anyone, when auth is turned off."""
    if settings.server.auth.enabled:
        return
    logger.warning(
        "AUTH IS DISABLED (server.auth.enabled: false): anyone who can reach %s:%d can read, create and cancel every "
        "namespace's pipelines, experiments and runs",
        settings.server.host,
        settings.server.port,
    )


def create_app(settings: config.Config, plugins: PluginManager | None = None) -> FastAPI:
    """The server's application for these settings (the embedded default's store and backend when they name none), with
    `plugins` (default: the built-ins and every installed plugin)."""
    warn_if_open(settings)
    store = local.metadata_store(settings=settings.metadata)
    supervisor = RunSupervisor(store, settings)
    catalog, recurring = SqlCatalog(store), SqlRecurringRuns(store)
    scheduler = RecurringScheduler(recurring, catalog, supervisor)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        supervisor.recover()  # runs the server was running when it last stopped
        scheduler.start()  # after recovery: a firing's run made before a restart is started by recovery, not fired again
        yield
        scheduler.stop()  # first: no firing may start a run on a supervisor that is stopping
        supervisor.stop()

    app = FastAPI(
        title="Sluiceway",
        version=__version__,
        summary="Pipelines, experiments and runs of a Sluiceway server.",
        lifespan=lifespan,
        redoc_url=None,
    )
    plugins = plugins or PluginManager()
    app.state.services = Services(
        settings=settings, store=store, catalog=catalog, supervisor=supervisor, plugins=plugins, recurring=recurring
    )
    problems.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.server.max_body_bytes)
    app.state.metrics = ServerMetrics(store)
    app.add_middleware(RequestLatency, metrics=app.state.metrics)  # added last: outermost, so a 413 is timed too
    app.include_router(health.router)
    app.include_router(metrics.router)
    for module in (
        pipelines,
        experiments,
        runs,
        recurring_runs,
        tasks,
        artifacts,
    ):  # the API: every route needs a principal (see access.py)
        app.include_router(module.router, dependencies=[Depends(principal)], responses=problems_of(401))
    install_openapi(app)
    return app
