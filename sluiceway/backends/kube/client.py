"""The official Kubernetes client: how it is configured, and its errors said in one sentence."""

from __future__ import annotations

import json
import os
from typing import Any

from ...core.errors import SluicewayError

IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def api_client(kubeconfig: str | None = None, context: str | None = None) -> Any:
    """A client for the cluster in `kubeconfig` (its `context`); with none, the pod's own cluster when running in one,
    else the kubeconfig kubectl would use ($KUBECONFIG, ~/.kube/config)."""
    try:
        from kubernetes import client, config
    except ImportError as error:
        raise SluicewayError("the Kubernetes backends need the Kubernetes client: install sluiceway[k8s] (or [argo], [tekton])") from error
    configuration = client.Configuration()
    try:
        if kubeconfig is None and context is None and os.path.exists(IN_CLUSTER_TOKEN):
            config.load_incluster_config(client_configuration=configuration)
        else:
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
    except (config.ConfigException, OSError, ValueError) as error:
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise SluicewayError(f"cannot use the Kubernetes configuration {where}: {error}") from None
    configuration.retries = 0  # the launcher and the watch decide what to retry
    return client.ApiClient(configuration)


def is_retryable(error: BaseException) -> bool:
    """An answer worth asking again: the API server is busy or failing (429, 5xx), or could not be reached."""
    status = getattr(error, "status", None)
    if isinstance(status, int) and status:
        return status == 429 or status >= 500
    return True  # no HTTP answer at all: a refused or broken connection


def describe_api_error(error: BaseException) -> str:
    """The API server's own message (`reason: message`), or the connection problem."""
    status = getattr(error, "status", None)
    body = getattr(error, "body", None)
    if status:
        try:
            answer = json.loads(body) if body else {}
        except ValueError:
            answer = {}
        message = answer.get("message") or getattr(error, "reason", "") or ""
        return f"HTTP {status} {answer.get('reason') or ''}: {message}".replace("  ", " ").rstrip(": ")
    return f"{type(error).__name__}: {error}"
