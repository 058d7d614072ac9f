"""The `batch/v1` Job of one attempt of one task: what it runs, where, with what, and how it ends.

Each attempt is its own Job (`restartPolicy: Never`, `backoffLimit: 0`): the engine retries, with
its own backoff, by creating the next attempt's Job, so every attempt keeps its own pod, log and
labels. A pod evicted by a node drain is replaced inside the same attempt (`podFailurePolicy`
ignores `DisruptionTarget`, as ../../../docs/explanation/semantics.md RETRY rules expect). The
per-attempt timeout is the Job's `activeDeadlineSeconds` (TIME-1 counts from the launch, so a pod
still pending counts), which also bounds a pod that never starts (an image that cannot be pulled).

The executor gets its task spec in an environment variable and stores its result in the
artifact store (`result_uri`): a pod shares no files with the orchestrator.
"""

from __future__ import annotations

import hashlib
import math
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ...core import ir
from ...core.errors import SluicewayError
from ...core.task_spec import TaskSpec, encode

LABEL_PREFIX = "sluiceway.dev/"
RUN_LABEL = LABEL_PREFIX + "run-id"
TASK_LABEL = LABEL_PREFIX + "task"
ATTEMPT_LABEL = LABEL_PREFIX + "attempt"
SPEC_ENV = "SLUICEWAY_TASK_SPEC"
STORES_ENV = "SLUICEWAY_TASK_STORES"
SPEC_ENV_LIMIT = 64 * 1024
"""A larger task spec goes through the artifact store (`--spec-uri`): Linux takes at most 128 KiB per environment string."""
CONTAINER = "main"
DEFAULT_PYTHON_IMAGE = "python:3.11-slim"
"""The dsl's default base image: a Python component that keeps it runs in the backend's runtime image instead."""
MAX_NAME = 63
"""Job names are label values (`job-name`): a DNS-1123 label."""
GRACE_SECONDS = 5
"""G of docs/explanation/semantics.md (TIME-2): between SIGTERM and SIGKILL, as on the local backend."""


@dataclass(frozen=True)
class PodSettings:
    """What every Job of a run carries besides its task's own settings; the backend's configuration."""

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


def job_name(run_id: str, task: str, attempt: int) -> str:
    """`RUN-TASK-ATTEMPT` as a DNS-1123 label: lowercased, other characters as `-`, and when too long cut and ended
    with a hash of the whole, so that two attempts never share a name."""
    whole = f"{run_id}-{task}-{attempt}"
    name = re.sub(r"[^a-z0-9-]+", "-", whole.lower()).strip("-")
    if len(name) <= MAX_NAME and name == whole:
        return name
    digest = hashlib.sha256(whole.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - len(digest) - 1].rstrip('-')}-{digest}"


def label_value(text: str) -> str:
    """`text` as a label value (63 characters of `[A-Za-z0-9._-]`, alphanumeric at both ends); the annotations keep it whole."""
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    if len(value) > MAX_NAME or value != text:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        value = f"{value[: MAX_NAME - len(digest) - 1]}-{digest}"
    return value.strip("-_.") or hashlib.sha256(text.encode()).hexdigest()[:8]


def pod_folder(spec: TaskSpec, settings: PodSettings) -> str:
    """The attempt's own folder in the pod: its staged inputs and outputs, its result, its packages."""
    return f"{settings.work_root}/{job_name(spec.run_id, spec.task, spec.attempt)}"


def pod_spec_of(spec: TaskSpec, settings: PodSettings, result_uri: str) -> TaskSpec:
    """The task spec as the pod sees it: files under the pod's own work folder, the result stored at `result_uri`."""
    folder = pod_folder(spec, settings)
    return TaskSpec(
        **{
            **{name: getattr(spec, name) for name in spec.__struct_fields__},
            "work_dir": f"{folder}/work",
            "result_path": f"{folder}/result.json",
            "result_uri": result_uri,
            "values_dir": None,
        }
    )


def spec_uri_of(spec: TaskSpec) -> str:
    """Where a task spec too large for the environment is stored for its pod."""
    return f"{spec.output_root}/.sluiceway/spec.json"


def image_of(component: ir.Component, settings: PodSettings) -> str:
    implementation = component.implementation
    if isinstance(implementation, ir.Container):
        return implementation.image
    if isinstance(implementation, ir.PythonFunction) and implementation.base_image != DEFAULT_PYTHON_IMAGE:
        return implementation.base_image
    if settings.image is None:
        raise SluicewayError("the k8s_job backend needs `backend.image`: the runtime image, with Python and Sluiceway installed")
    return settings.image


def job_manifest(
    spec: TaskSpec,
    task_settings: ir.TaskSettings,
    settings: PodSettings,
    *,
    result_uri: str,
    timeout_seconds: float | None,
    spec_uri: str | None = None,
) -> dict[str, Any]:
    """The Job that runs one attempt; see the module's docstring. With `spec_uri`, the pod reads its task spec from the
    artifact store there (the launcher stores it) instead of from its environment."""
    name = job_name(spec.run_id, spec.task, spec.attempt)
    labels = {
        **settings.labels,
        RUN_LABEL: label_value(spec.run_id),
        TASK_LABEL: label_value(spec.task),
        ATTEMPT_LABEL: str(spec.attempt),
    }
    annotations = {**settings.annotations, RUN_LABEL: spec.run_id, TASK_LABEL: spec.task, ATTEMPT_LABEL: str(spec.attempt)}
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": GRACE_SECONDS,
        "containers": [_container(spec, task_settings, settings, result_uri, spec_uri)],
        "volumes": [{"name": "work", "emptyDir": {}}, *_secret_volumes(task_settings.secrets)],
    }
    node_selector = {**settings.node_selector, **task_settings.node_selector}
    if node_selector:
        pod["nodeSelector"] = node_selector
    if settings.tolerations:
        pod["tolerations"] = [dict(toleration) for toleration in settings.tolerations]
    if settings.service_account:
        pod["serviceAccountName"] = settings.service_account
    if settings.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": secret} for secret in settings.image_pull_secrets]
    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": settings.namespace, "labels": labels, "annotations": annotations},
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": settings.ttl_seconds_after_finished,
            "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]},
            "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod},
        },
    }
    if timeout_seconds is not None:  # the Job's own deadline: from its start, pending included, whatever pods it takes
        job["spec"]["activeDeadlineSeconds"] = max(1, math.ceil(timeout_seconds))
    return job


def _container(
    spec: TaskSpec, task_settings: ir.TaskSettings, settings: PodSettings, result_uri: str, spec_uri: str | None
) -> dict[str, Any]:
    if spec_uri is None:
        env: list[dict[str, Any]] = [{"name": SPEC_ENV, "value": encode(pod_spec_of(spec, settings, result_uri)).decode()}]
    else:  # the stores the spec names, to fetch the spec with (settings only: credentials come from the environment)
        env = [{"name": STORES_ENV, "value": msgspec.json.encode(spec.stores).decode()}]
    for secret in task_settings.secrets:
        env.extend(
            {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret.secret, "key": key}}} for variable, key in secret.env.items()
        )
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image_of(spec.component, settings),
        "command": _command(spec.component, settings, pod_folder(spec, settings), spec_uri),
        "env": env,
        "volumeMounts": [
            {"name": "work", "mountPath": settings.work_root},
            *(
                {"name": f"secret-{index}", "mountPath": secret.mount_path, "readOnly": True}
                for index, secret in enumerate(task_settings.secrets)
                if secret.mount_path
            ),
        ],
    }
    if settings.credentials_secret:
        container["envFrom"] = [{"secretRef": {"name": settings.credentials_secret}}]
    resources = _resources(task_settings.resources)
    if resources:
        container["resources"] = resources
    return container


def _command(component: ir.Component, settings: PodSettings, folder: str, spec_uri: str | None) -> list[str]:
    executor = [settings.python, "-m", "sluiceway.executor", *(("--spec-env", SPEC_ENV) if spec_uri is None else ("--spec-uri", spec_uri))]
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


def _resources(resources: ir.Resources) -> dict[str, dict[str, str]]:
    requests = {"cpu": resources.cpu_request, "memory": resources.memory_request}
    limits: dict[str, str | None] = {"cpu": resources.cpu_limit, "memory": resources.memory_limit}
    if resources.accelerator_type and resources.accelerator_count:
        limits[resources.accelerator_type] = str(resources.accelerator_count)  # e.g. nvidia.com/gpu: "1"
    given = {"requests": _present(requests), "limits": _present(limits)}
    return {kind: quantities for kind, quantities in given.items() if quantities}


def _present(quantities: dict[str, str | None]) -> dict[str, str]:
    return {name: value for name, value in quantities.items() if value is not None}


def _secret_volumes(secrets: tuple[ir.SecretRef, ...]) -> list[dict[str, Any]]:
    """A volume per mounted secret, named by its place in the task's list: secret names need not be volume names."""
    return [{"name": f"secret-{index}", "secret": {"secretName": s.secret}} for index, s in enumerate(secrets) if s.mount_path]
