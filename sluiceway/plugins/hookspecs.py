"""The hooks a Sluiceway plugin can implement.

Provider hooks receive a registrar and call `register.add(name, target)` for each backend or
store they provide. Observer hooks are told about run and task events; their return values
are ignored, and an observer that raises does not stop the run. The server asks the auth hook
who sent each request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from ..core.access import Principal
    from ..stores.sql import SqlMetadataStore
    from .registry import Registrar

PROJECT = "sluiceway"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- Providers ---------------------------------------------------------------------------------


@hookspec
def register_backends(register: Registrar) -> None:
    """Register backends that run pipelines: `register.add("argo", "pkg.module:ArgoBackend")`."""


@hookspec
def register_metadata_stores(register: Registrar) -> None:
    """Register metadata stores that keep runs, tasks and lineage."""


@hookspec
def register_artifact_stores(register: Registrar) -> None:
    """Register artifact stores, keyed by URI scheme: `register.add("s3", ...)`."""


# --- Observers ---------------------------------------------------------------------------------


@hookspec
def before_run(run_id: str, pipeline_name: str, parameters: dict[str, Any]) -> None:
    """A run is about to start."""


@hookspec
def after_run(run_id: str, pipeline_name: str, state: str) -> None:
    """A run has ended, in `state` (SUCCEEDED, FAILED or CANCELLED)."""


@hookspec
def on_run_error(run_id: str, pipeline_name: str, error: BaseException) -> None:
    """A run could not be carried on because of `error`."""


@hookspec
def before_task(run_id: str, task_name: str, attempt: int) -> None:
    """An attempt of a task is about to start."""


@hookspec
def after_task(run_id: str, task_name: str, attempt: int, state: str) -> None:
    """An attempt of a task has ended, in `state`."""


@hookspec
def on_task_error(run_id: str, task_name: str, attempt: int, error: str) -> None:
    """An attempt of a task failed with `error`."""


# --- The server --------------------------------------------------------------------------------


@hookspec(firstresult=True)
def authenticate(headers: Mapping[str, str], store: SqlMetadataStore) -> Principal | None:
    """Who sent a request with these headers (names in lower case), or None to leave it to the next plugin."""
