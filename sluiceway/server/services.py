"""What the routes share, made once at start-up and reached through `Depends(services)`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from .. import config
from ..plugins import PluginManager
from ..stores.sql import SqlMetadataStore
from ..stores.sql.catalog import SqlCatalog
from ..stores.sql.recurring import SqlRecurringRuns
from .supervisor import RunSupervisor


@dataclass(frozen=True)
class Services:
    settings: config.Config
    store: SqlMetadataStore
    catalog: SqlCatalog
    supervisor: RunSupervisor
    plugins: PluginManager
    """The server's plugins: its auth hook is asked who sent each request."""
    recurring: SqlRecurringRuns


def services_of(request: Request) -> Services:
    """The services, without a dependency: for other dependencies (access.py), each of which FastAPI resolves anew on
    every request, cached or not."""
    found: Services = request.app.state.services
    return found


async def services(request: Request) -> Services:
    # async: it does not block, so FastAPI calls it on the event loop instead of sending it to a worker thread.
    return services_of(request)
