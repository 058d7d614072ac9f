"""What the fake knows about each kind: its name, scope, status subresource, selectable fields, defaults and validation.

Any group/version/plural is served; kinds that are not registered get generic behaviour (no status
subresource, only `metadata.name`/`metadata.namespace` field selectors), as a CRD without subresources has.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


@dataclass(frozen=True, order=True)
class Resource:
    """A REST resource: group ("" for the core group), version and plural name."""

    group: str
    version: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """How error messages name it: `jobs.batch`, `pods`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @classmethod
    def of(cls, group_version: str, plural: str) -> Resource:
        group, _, version = group_version.rpartition("/")
        return cls(group, version, plural)


PODS = Resource("", "v1", "pods")
JOBS = Resource("batch", "v1", "jobs")
SECRETS = Resource("", "v1", "secrets")
CONFIGMAPS = Resource("", "v1", "configmaps")

_METADATA_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


@dataclass(frozen=True)
class ResourceType:
    kind: str
    status_subresource: bool = False
    fields: frozenset[str] = field(default=_METADATA_FIELDS)
    returns_deleted_object: bool = False  # a DELETE answers the object itself (pods), not a Status
    orphans_by_default: bool = False  # batch/v1 Jobs: a DELETE without a propagationPolicy orphans the pods


BUILTIN: dict[Resource, ResourceType] = {
    PODS: ResourceType(
        "Pod",
        status_subresource=True,
        fields=_METADATA_FIELDS
        | {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "status.phase", "status.podIP"},
        returns_deleted_object=True,
    ),
    SECRETS: ResourceType("Secret", fields=_METADATA_FIELDS | {"type"}),
    CONFIGMAPS: ResourceType("ConfigMap"),
    Resource("", "v1", "events"): ResourceType(
        "Event",
        fields=_METADATA_FIELDS
        | {"involvedObject.kind", "involvedObject.name", "involvedObject.namespace", "involvedObject.uid", "reason", "type"},
    ),
    Resource("", "v1", "serviceaccounts"): ResourceType("ServiceAccount"),
    Resource("", "v1", "namespaces"): ResourceType("Namespace", status_subresource=True),
    JOBS: ResourceType("Job", status_subresource=True, fields=_METADATA_FIELDS | {"status.successful"}, orphans_by_default=True),
    # CRDs as their published manifests declare them (../shared/schemas): Argo's Workflow has no status subresource.
    Resource("argoproj.io", "v1alpha1", "workflows"): ResourceType("Workflow"),
    Resource("argoproj.io", "v1alpha1", "workflowtemplates"): ResourceType("WorkflowTemplate"),
    Resource("tekton.dev", "v1", "pipelineruns"): ResourceType("PipelineRun", status_subresource=True),
    Resource("tekton.dev", "v1", "taskruns"): ResourceType("TaskRun", status_subresource=True),
    Resource("tekton.dev", "v1", "pipelines"): ResourceType("Pipeline", status_subresource=True),
    Resource("tekton.dev", "v1", "tasks"): ResourceType("Task", status_subresource=True),
}


def guess_kind(plural: str) -> str:
    return (plural[:-1] if plural.endswith("s") else plural).capitalize()


def _validate_labels(labels: Any, where: str, problems: list[str]) -> None:
    if labels is None:
        return
    if not isinstance(labels, dict):
        problems.append(f"{where}: Invalid value: must be a map of strings")
        return
    for key, value in labels.items():
        name = str(key).rpartition("/")[2]
        if not (0 < len(name) <= 63 and _LABEL_NAME.match(name)):
            problems.append(f'{where}: Invalid value: "{key}": name part must consist of alphanumeric characters, "-", "_" or "."')
        if not isinstance(value, str):
            problems.append(f"{where}: Invalid value: label values must be strings")
        elif len(value) > 63:
            problems.append(f'{where}: Invalid value: "{value}": must be no more than 63 characters')
        elif not _LABEL_VALUE.match(value):
            problems.append(
                f'{where}: Invalid value: "{value}": a valid label must be an empty string or consist of alphanumeric characters, "-", "_" or "."'
            )


def _default_pod_spec(spec: dict[str, Any], *, restart_policy: str | None) -> None:
    if restart_policy:
        spec.setdefault("restartPolicy", restart_policy)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for container in spec.get("containers") or []:
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        image = str(container.get("image", ""))
        tagged = ":" in image.rpartition("/")[2] and not image.endswith(":latest")
        container.setdefault("imagePullPolicy", "IfNotPresent" if tagged or "@" in image else "Always")


def _validate_pod_spec(spec: Any, where: str, problems: list[str], allowed_restart: tuple[str, ...]) -> None:
    if not isinstance(spec, dict):
        problems.append(f"{where}: Required value")
        return
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        problems.append(f"{where}.containers: Required value")
    else:
        for index, container in enumerate(containers):
            name = container.get("name", "") if isinstance(container, dict) else ""
            if not _DNS_LABEL.match(str(name)):
                problems.append(f'{where}.containers[{index}].name: Invalid value: "{name}": must be a DNS-1123 label')
            if not (isinstance(container, dict) and container.get("image")):
                problems.append(f"{where}.containers[{index}].image: Required value")
    if spec.get("restartPolicy") not in allowed_restart:
        valid = ", ".join(f'"{policy}"' for policy in allowed_restart)
        problems.append(f"{where}.restartPolicy: Required value: valid values: {valid}")


def normalize(resource: Resource, obj: dict[str, Any]) -> None:
    """On every write: a Secret's `stringData` is write-only, merged into `data` as base64, as the apiserver does."""
    if resource == SECRETS and isinstance(obj.get("stringData"), dict):
        data = obj.setdefault("data", {})
        for key, value in obj.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def prepare_create(resource: Resource, obj: dict[str, Any]) -> None:
    """Defaults and server-set fields on create (after the name and uid are set), as the apiserver's strategies do."""
    metadata = obj["metadata"]
    normalize(resource, obj)
    if resource == JOBS:
        spec = obj.setdefault("spec", {})
        uid, name = metadata["uid"], metadata["name"]
        if "completions" not in spec and "parallelism" not in spec:
            spec["completions"] = spec["parallelism"] = 1
        spec.setdefault("parallelism", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        if "podFailurePolicy" not in spec:
            spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
        if not spec.get("manualSelector"):
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        template = spec.setdefault("template", {})
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels.update(
            {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name, "controller-uid": uid, "job-name": name}
        )
        if isinstance(template.get("spec"), dict):
            _default_pod_spec(template["spec"], restart_policy=None)
        obj["status"] = {}
    elif resource == PODS:
        _default_pod_spec(obj.setdefault("spec", {}), restart_policy="Always")
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}


def validate(resource: Resource, kind: str, obj: dict[str, Any]) -> None:
    """The validation a backend is most likely to trip over, with the apiserver's field paths; 422 Invalid."""
    metadata = obj["metadata"]
    name = metadata.get("name", "")
    problems: list[str] = []
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        problems.append(
            f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "-" or ".", and must start and end with an alphanumeric character'
        )
    _validate_labels(metadata.get("labels"), "metadata.labels", problems)
    if resource == JOBS:
        spec = obj.get("spec") or {}
        template = spec.get("template") or {}
        _validate_labels((template.get("metadata") or {}).get("labels"), "spec.template.labels", problems)
        _validate_pod_spec(template.get("spec"), "spec.template.spec", problems, ("OnFailure", "Never"))
        if int(spec.get("backoffLimit", 0)) < 0:
            problems.append("spec.backoffLimit: Invalid value: must be greater than or equal to 0")
    elif resource == PODS:
        _validate_pod_spec(obj.get("spec"), "spec", problems, ("Always", "OnFailure", "Never"))
    if problems:
        raise ApiError.invalid(f"{kind}.{resource.group}" if resource.group else kind, name, problems)


def validate_update(resource: Resource, kind: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Immutable fields a backend might try to change in place, as the Job strategy refuses them."""
    normalize(resource, new)
    validate(resource, kind, new)
    if resource == JOBS:
        for name in ("template", "selector", "completions", "completionMode"):
            if (old.get("spec") or {}).get(name) != (new.get("spec") or {}).get(name):
                raise ApiError.invalid("Job.batch", new["metadata"]["name"], [f"spec.{name}: Invalid value: field is immutable"])
