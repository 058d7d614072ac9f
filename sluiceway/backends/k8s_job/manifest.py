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

import math
from typing import Any

import msgspec

from ...core import ir
from ...core.task_spec import TaskSpec, encode
from ..kube.pods import (
    ATTEMPT_LABEL,
    GRACE_SECONDS,
    RUN_LABEL,
    STORES_ENV,
    TASK_LABEL,
    PodSettings,
    executor_command,
    hashed_name,
    image_of,
    label_value,
    node_selector_of,
    resources_of,
    secret_env,
    secret_mounts,
    secret_volumes,
)

__all__ = [
    "ATTEMPT_LABEL",
    "RUN_LABEL",
    "STORES_ENV",
    "TASK_LABEL",
    "PodSettings",
    "job_manifest",
    "job_name",
    "label_value",
    "pod_spec_of",
    "spec_uri_of",
]

SPEC_ENV = "SLUICEWAY_TASK_SPEC"
SPEC_ENV_LIMIT = 64 * 1024
"""A larger task spec goes through the artifact store (`--spec-uri`): Linux takes at most 128 KiB per environment string."""
CONTAINER = "main"


def job_name(run_id: str, task: str, attempt: int) -> str:
    """`RUN-TASK-ATTEMPT` as a DNS-1123 label, cut and hashed when too long, so that two attempts never share a name."""
    return hashed_name(f"{run_id}-{task}-{attempt}")


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
        "volumes": [{"name": "work", "emptyDir": {}}, *secret_volumes(task_settings.secrets)],
    }
    node_selector = node_selector_of(task_settings, settings)
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
    env.extend(secret_env(task_settings.secrets))
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image_of(spec.component, settings, "k8s_job"),
        "command": executor_command(spec.component, settings, pod_folder(spec, settings), _spec_args(spec_uri)),
        "env": env,
        "volumeMounts": [{"name": "work", "mountPath": settings.work_root}, *secret_mounts(task_settings.secrets)],
    }
    if settings.credentials_secret:
        container["envFrom"] = [{"secretRef": {"name": settings.credentials_secret}}]
    resources = resources_of(task_settings.resources)
    if resources:
        container["resources"] = resources
    return container


def _spec_args(spec_uri: str | None) -> list[str]:
    return ["--spec-env", SPEC_ENV] if spec_uri is None else ["--spec-uri", spec_uri]
