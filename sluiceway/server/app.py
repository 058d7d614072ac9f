"""The ASGI application: the API's routes, its error shape, its body limit, and the run supervisor's lifetime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .. import __version__, config, local
from ..stores.sql.catalog import SqlCatalog
from . import problems
from .limits import BodySizeLimit
from .openapi import install_openapi
from .routes import experiments, health, pipelines, runs
from .services import Services
from .supervisor import RunSupervisor

logger = logging.getLogger(__name__)


class AuthNotAvailable(config.ConfigError):
    """Auth is enabled, and this server cannot authenticate anyone yet."""


def check_auth(settings: config.Config) -> None:
    """Refuse to serve an open API while the configuration says auth is on; say loudly when it is off."""
    if settings.server.auth.enabled:
        where = settings.source or "the default configuration"
        raise AuthNotAvailable(
            f"{where}: server.auth.enabled is true, and this Sluiceway cannot authenticate requests yet (API tokens are not "
            "built); to serve the API to anyone who can reach it, set `server: {auth: {enabled: false}}` "
            "(or SLUICEWAY_SERVER__AUTH__ENABLED=false)"
        )
    logger.warning(
        "AUTH IS DISABLED (server.auth.enabled: false): anyone who can reach %s:%d can read, create and cancel every "
        "namespace's pipelines, experiments and runs",
        settings.server.host,
        settings.server.port,
    )


def create_app(settings: config.Config) -> FastAPI:
    """The server's application for these settings (the embedded default's store and backend when they name none)."""
    check_auth(settings)
    store = local.metadata_store(settings=settings.metadata)
    supervisor = RunSupervisor(store, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        supervisor.recover()  # runs the server was running when it last stopped
        yield
        supervisor.stop()

    app = FastAPI(
        title="Sluiceway",
        version=__version__,
        summary="Pipelines, experiments and runs of a Sluiceway server.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.services = Services(settings=settings, store=store, catalog=SqlCatalog(store), supervisor=supervisor)
    problems.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.server.max_body_bytes)
    for module in (health, pipelines, experiments, runs):
        app.include_router(module.router)
    install_openapi(app)
    return app
