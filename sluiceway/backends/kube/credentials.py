"""The artifact store's credentials for a run's pods: a Secret made for the run from those this process has (never
written into a Job, Workflow or PipelineRun, where anyone who may read those would see them), removed at its end."""

from __future__ import annotations

import logging
import os
from typing import Any

from ...core.errors import SluicewayError
from ...core.stores import Stores
from .client import describe_api_error
from .pods import RUN_LABEL, hashed_name, label_value

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = (10.0, 60.0)


def store_credentials(scheme: str, stores: Stores) -> dict[str, str]:
    """The environment variables through which the run's artifact store reads its credentials, as this process has them
    (the run's store only: no other store's credentials go to pods)."""
    names = getattr(type(stores.for_uri(f"{scheme}://")), "credential_env", {})
    return {variable: os.environ[variable] for variable in names.values() if os.environ.get(variable)}


def make_run_secret(core: Any, namespace: str, run_id: str, values: dict[str, str]) -> str:
    """Create (or, left by an earlier process of the run, replace) the run's credentials Secret; its name."""
    name = hashed_name(f"{run_id}-credentials")
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": {RUN_LABEL: label_value(run_id)}},
        "type": "Opaque",
        "stringData": values,
    }
    try:
        try:
            core.create_namespaced_secret(namespace, body, _request_timeout=REQUEST_TIMEOUT)
        except Exception as error:
            if getattr(error, "status", None) != 409:
                raise
            # Left by an earlier process of this run (`runs retry`): its credentials may be stale.
            core.replace_namespaced_secret(name, namespace, body, _request_timeout=REQUEST_TIMEOUT)
    except Exception as error:
        raise SluicewayError(
            f"could not create the Secret {name} for the artifact store's credentials: {describe_api_error(error)}"
        ) from None
    return name


def delete_run_secret(core: Any, namespace: str, name: str) -> None:
    try:
        core.delete_namespaced_secret(name, namespace, _request_timeout=REQUEST_TIMEOUT)
    except Exception as error:  # the run is over; a Secret left behind is named in the log
        log.warning("could not delete the Secret %s: %s", name, describe_api_error(error))
