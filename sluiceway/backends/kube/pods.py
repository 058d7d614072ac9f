"""The container that runs the executor for one task, as every Kubernetes backend builds it, and the names it takes.

The image is the component's own (a container component's, or a Python component's non-default `base_image`), else
the backend's runtime image (`backend.image`, with Python and Sluiceway installed). Resources, secrets and node
selectors are the task's settings; service account, pull secrets, tolerations and credentials the backend's.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from ...core import ir
from ...core.errors import SluicewayError
from ...core.task_spec import STORES_ENV

__all__ = ["STORES_ENV", "PodSettings", "exit_of", "hashed_name", "label_value", "ticket_container"]

LABEL_PREFIX = "sluiceway.dev/"
RUN_LABEL = LABEL_PREFIX + "run-id"
TASK_LABEL = LABEL_PREFIX + "task"
ATTEMPT_LABEL = LABEL_PREFIX + "attempt"
DEFAULT_PYTHON_IMAGE = "python:3.11-slim"
"""The dsl's default base image: a Python component that keeps it runs in the backend's runtime image instead."""
MAX_NAME = 63
"""A DNS-1123 label, and a label value: the longest name a Kubernetes object that pods are labelled with may take."""
GRACE_SECONDS = 5
"""G of docs/explanation/semantics.md (TIME-2): between SIGTERM and SIGKILL, as on the local backend."""


@dataclass(frozen=True)
class PodSettings:
    """What every pod of a run carries besides its task's own settings; the backend's configuration."""

    namespace: str = "default"
    image: str | None = None
    """The runtime image: Python and Sluiceway installed. Python components with the default base image run in it."""
    python: str = "python"
    """The interpreter in the image."""
    service_account: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    ttl_seconds_after_finished: int = 3600
    work_root: str = "/tmp/sluiceway"
    """Where in the pod each attempt's files go (an emptyDir); a path of its own per attempt."""
    credentials_secret: str | None = None
    """A Secret whose keys become the executor's environment: the artifact store's credentials."""

    @classmethod
    def of(cls, given: dict[str, Any]) -> PodSettings:
        """The pod settings among a backend's settings (configuration keys; others, such as `kubeconfig`, are left out)."""
        known = {name: given[name] for name in cls.__dataclass_fields__ if name in given}
        for name in ("image_pull_secrets", "tolerations"):
            if name in known:
                known[name] = tuple(known[name])
        return cls(**known)


def hashed_name(whole: str, limit: int = MAX_NAME) -> str:
    """`whole` as a DNS-1123 label: lowercased, other characters as `-`, and when too long or changed cut and ended with
    the first 8 hex digits of its SHA-256, so that two different wholes never share a name (ART-9)."""
    name = re.sub(r"[^a-z0-9-]+", "-", whole.lower()).strip("-")
    if len(name) <= limit and name == whole:
        return name
    digest = hashlib.sha256(whole.encode()).hexdigest()[:8]
    return f"{name[: limit - len(digest) - 1].rstrip('-')}-{digest}"


def label_value(text: str) -> str:
    """`text` as a label value (63 characters of `[A-Za-z0-9._-]`, alphanumeric at both ends); the annotations keep it whole."""
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    if len(value) > MAX_NAME or value != text:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        value = f"{value[: MAX_NAME - len(digest) - 1]}-{digest}"
    return value.strip("-_.") or hashlib.sha256(text.encode()).hexdigest()[:8]


def image_of(component: ir.Component, settings: PodSettings, backend: str) -> str:
    implementation = component.implementation
    if isinstance(implementation, ir.Container):
        return implementation.image
    if isinstance(implementation, ir.PythonFunction) and implementation.base_image != DEFAULT_PYTHON_IMAGE:
        return implementation.base_image
    if settings.image is None:
        raise SluicewayError(f"the {backend} backend needs `backend.image`: the runtime image, with Python and Sluiceway installed")
    return settings.image


def ticket_container(
    component: ir.Component | None,
    task_settings: ir.TaskSettings,
    settings: PodSettings,
    *,
    backend: str,
    executor_args: list[str],
    stores: str,
) -> dict[str, Any]:
    """The container of a workflow engine's pod (argo, tekton): the executor reading its ticket (core/tickets.py) with
    the artifact stores `stores` names, in the component's image (None: a driver, in the runtime image)."""
    image = settings.image if component is None else image_of(component, settings, backend)
    if image is None:
        raise SluicewayError(f"the {backend} backend needs `backend.image`: the runtime image, with Python and Sluiceway installed")
    if component is None:
        command = [settings.python, "-m", "sluiceway.executor", *executor_args]
    else:
        command = executor_command(component, settings, f"{settings.work_root}/pod", executor_args)
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "command": command,
        "env": [{"name": STORES_ENV, "value": stores}, *secret_env(task_settings.secrets)],
        "volumeMounts": [{"name": "work", "mountPath": settings.work_root}, *secret_mounts(task_settings.secrets)],
    }
    if settings.credentials_secret:
        container["envFrom"] = [{"secretRef": {"name": settings.credentials_secret}}]
    resources = resources_of(task_settings.resources)
    if resources:
        container["resources"] = resources
    return container


def executor_command(component: ir.Component, settings: PodSettings, folder: str, executor_args: list[str]) -> list[str]:
    """`python -m sluiceway.executor ARGS`, after installing the component's `packages_to_install` when it has any."""
    executor = [settings.python, "-m", "sluiceway.executor", *executor_args]
    implementation = component.implementation
    if not isinstance(implementation, ir.PythonFunction) or not implementation.packages_to_install:
        return executor
    # As KFP does, the packages are installed in the pod before the executor starts; into the attempt's own folder, on
    # PYTHONPATH, since the image's user may not write the image's site-packages.
    packages = f"{folder}/packages"
    install = [settings.python, "-m", "pip", "install", "--quiet", "--no-warn-script-location", "--disable-pip-version-check"]
    for index, url in enumerate(implementation.pip_index_urls):
        install += ["--index-url" if index == 0 else "--extra-index-url", url]
    install += ["--target", packages, *implementation.packages_to_install]
    path = f'export PYTHONPATH={shlex.quote(packages)}"${{PYTHONPATH:+:$PYTHONPATH}}"'
    return ["sh", "-c", f"{shlex.join(install)} && {path} && exec {shlex.join(executor)}"]


def resources_of(resources: ir.Resources) -> dict[str, dict[str, str]]:
    """The container's `resources`: requests and limits as the task set them, accelerators as extended resources."""
    requests = {"cpu": resources.cpu_request, "memory": resources.memory_request}
    limits: dict[str, str | None] = {"cpu": resources.cpu_limit, "memory": resources.memory_limit}
    if resources.accelerator_type and resources.accelerator_count:
        limits[resources.accelerator_type] = str(resources.accelerator_count)  # e.g. nvidia.com/gpu: "1"
    given = {"requests": _present(requests), "limits": _present(limits)}
    return {kind: quantities for kind, quantities in given.items() if quantities}


def _present(quantities: dict[str, str | None]) -> dict[str, str]:
    return {name: value for name, value in quantities.items() if value is not None}


def secret_env(secrets: tuple[ir.SecretRef, ...]) -> list[dict[str, Any]]:
    """The environment variables the task's secrets set, each read from its Secret's key."""
    return [
        {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret.secret, "key": key}}}
        for secret in secrets
        for variable, key in secret.env.items()
    ]


def secret_volumes(secrets: tuple[ir.SecretRef, ...]) -> list[dict[str, Any]]:
    """A volume per mounted secret, named by its place in the task's list: secret names need not be volume names."""
    return [{"name": f"secret-{index}", "secret": {"secretName": s.secret}} for index, s in enumerate(secrets) if s.mount_path]


def secret_mounts(secrets: tuple[ir.SecretRef, ...]) -> list[dict[str, Any]]:
    """Where the mounted secrets' volumes (`secret_volumes`) appear in the container."""
    return [
        {"name": f"secret-{index}", "mountPath": secret.mount_path, "readOnly": True}
        for index, secret in enumerate(secrets)
        if secret.mount_path
    ]


def node_selector_of(task_settings: ir.TaskSettings, settings: PodSettings) -> dict[str, str]:
    """The backend's node selector, with the task's own on top."""
    return {**settings.node_selector, **task_settings.node_selector}


def exit_of(pod: dict[str, Any] | None, container: str) -> tuple[int | None, str]:
    """`container`'s exit code, and the pod's reason (DeadlineExceeded, Evicted), as far as the pod says."""
    if pod is None:
        return None, ""
    status = pod.get("status") or {}
    for state in status.get("containerStatuses") or []:
        terminated = (state.get("state") or {}).get("terminated")
        if state.get("name") == container and terminated:
            return terminated.get("exitCode"), status.get("reason") or ""
    return None, status.get("reason") or ""
