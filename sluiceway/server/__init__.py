"""The Sluiceway server (extra `server`): the REST API over the metadata store, and the runs it supervises.

`sluiceway server` starts it; `create_app(settings)` makes its ASGI application.
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
