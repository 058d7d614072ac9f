"""The TaskRun reconciler: one pod per attempt, its status as a TaskRun status, retries, timeouts and cancellation.

As Tekton's (T: pkg/reconciler/taskrun/taskrun.go, pkg/pod/status.go, docs/taskruns.md): the pod is `<taskrun>-pod`,
then `<taskrun>-pod-retry<n>` for each retry; an attempt that fails with retries left is archived in
`status.retriesStatus` and the TaskRun goes back to Unknown/ToBeRetried at once (no backoff); the timeout counts per
attempt from its `startTime` (the pod's `activeDeadlineSeconds` is 1.5 times it, as Tekton sets it, as a backstop);
cancellation and timeout delete the pod, and a timeout is retried like any failure, a cancellation never
(T: docs/pipelines.md "Using the retries field"). Results come back in the step container's termination message, written by
`write_results`, the simulator's stand-in for Tekton's entrypoint.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import time
from collections.abc import Callable
from typing import Any

from ..errors import ApiError
from ..objects import Obj, ObjectStore, rfc3339
from ..resources import PODS, Resource
from .facts import succeeded_condition
from .variables import (
    Lookup,
    SubstitutionError,
    Value,
    chain,
    format_duration,
    params_lookup,
    parse_duration,
    substitute_list,
    substitute_string,
)

TASKRUNS = Resource("tekton.dev", "v1", "taskruns")
RESULTS_DIR = "/tekton/results/"
TERMINATION_PATH = "/tekton/termination"
MANAGED_BY = {"app.kubernetes.io/managed-by": "tekton-pipelines"}
ON_ERROR_ANNOTATION = "pipeline.tekton.dev/pipeline-task-on-error"
DEFAULT_TIMEOUT = 3600.0  # `default-timeout-minutes`: 60
MESSAGE_LIMIT = 4096  # bytes of a container's termination message (T: docs/tasks.md "Emitting Results")
TOO_LARGE = "Termination message is above max allowed size 4096, caused by large task result."
_RESULT_TYPE, _INTERNAL_TYPE = 1, 3  # the entrypoint's RunResult types
_POD_TEMPLATE_FIELDS = ("nodeSelector", "tolerations", "imagePullSecrets", "affinity", "securityContext", "priorityClassName")

Enqueue = Callable[[tuple[str, str, str], float], None]


def done(obj: Obj) -> bool:
    return succeeded_condition(obj).get("status") in ("True", "False")


def set_condition(status: dict[str, Any], state: str, reason: str, message: str) -> None:
    """The knative `Succeeded` condition; its transition time moves only when its status does."""
    old: dict[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Succeeded"), {})
    moved = old.get("lastTransitionTime") if old.get("status") == state else rfc3339()
    status["conditions"] = [{"type": "Succeeded", "status": state, "reason": reason, "message": message, "lastTransitionTime": moved}]


def owner_reference(obj: Obj) -> dict[str, Any]:
    metadata = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": metadata["name"],
        "uid": metadata["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


class TaskRunReconciler:
    def __init__(self, store: ObjectStore, enqueue: Enqueue) -> None:
        self.store = store
        self.enqueue = enqueue
        self._started: dict[tuple[str, int], float] = {}  # (uid, attempt) -> monotonic start: the timeout's clock

    def reconcile(self, namespace: str, name: str) -> None:
        taskrun = self.store.find(TASKRUNS, namespace, name)
        if taskrun is None or "deletionTimestamp" in taskrun["metadata"] or done(taskrun):
            return
        status = copy.deepcopy(taskrun.get("status") or {})
        spec = taskrun["spec"]
        if spec.get("status") == "TaskRunCancelled":
            message = f'TaskRun "{name}" was cancelled. {spec.get("statusMessage", "")}'
            return self._end(taskrun, status, "TaskRunCancelled", message)
        problem = _invalid(spec)
        if problem:
            return self._end(taskrun, status, "TaskRunValidationFailed", problem)
        attempt = len(status.get("retriesStatus") or [])
        key = (taskrun["metadata"]["uid"], attempt)
        if "startTime" not in status:
            status["startTime"] = rfc3339()
            set_condition(status, "Unknown", "Started", "")
            self._started[key] = time.monotonic()
        started = self._started.setdefault(key, time.monotonic())
        timeout = _timeout(spec)
        if timeout and time.monotonic() - started > timeout:
            return self._end(taskrun, status, "TaskRunTimeout", f'TaskRun "{name}" failed to finish within "{format_duration(timeout)}"')
        self._run_pod(taskrun, status, attempt, timeout)
        if timeout and not done({"status": status}):
            self.enqueue(("taskrun", namespace, name), max(0.0, started + timeout - time.monotonic()) + 0.01)

    def _run_pod(self, taskrun: Obj, status: dict[str, Any], attempt: int, timeout: float) -> None:
        """Create the attempt's pod if it is missing, and read its state into the TaskRun's status."""
        namespace = taskrun["metadata"].get("namespace", "")
        pod_name = status.get("podName") or _pod_name(taskrun["metadata"]["name"], attempt)
        pod = self.store.find(PODS, namespace, pod_name)
        if pod is None:
            try:
                pod = self.store.create(PODS, namespace, self._pod(taskrun, pod_name, attempt, timeout))
            except SubstitutionError as error:
                return self._end(taskrun, status, "TaskRunValidationFailed", str(error))
            status["podName"] = pod_name
        _from_pod(taskrun, status, pod)
        if succeeded_condition({"status": status}).get("status") == "False":
            self._retry_if_allowed(taskrun, status)
        self._write(taskrun, status)

    def _end(self, taskrun: Obj, status: dict[str, Any], reason: str, message: str) -> None:
        """Cancelled, timed out or invalid: the pod is deleted and its running step ends as Tekton records it."""
        finished = rfc3339()
        for step in status.get("steps") or []:
            if "terminated" not in step:
                state = step.pop("running", None) or step.pop("waiting", None) or {}
                step["terminated"] = {"exitCode": 1, "reason": reason, "finishedAt": finished, **_started_at(state)}
        set_condition(status, "False", reason, message)
        status["completionTime"] = finished
        if status.get("podName"):
            with contextlib.suppress(ApiError):
                self.store.delete(PODS, taskrun["metadata"].get("namespace", ""), status["podName"], "Background")
        if reason == "TaskRunTimeout":
            self._retry_if_allowed(taskrun, status)
        self._write(taskrun, status)

    def _retry_if_allowed(self, taskrun: Obj, status: dict[str, Any]) -> None:
        """Every failure but a cancellation is retried while retries are left (T: docs/taskruns.md "Specifying Retries")."""
        retries = int(taskrun["spec"].get("retries", 0))
        if len(status.get("retriesStatus") or []) >= retries:
            return
        archived = {key: value for key, value in copy.deepcopy(status).items() if key != "retriesStatus"}
        status["retriesStatus"] = [*(status.get("retriesStatus") or []), archived]
        for field in ("startTime", "completionTime", "podName", "steps", "results"):
            status.pop(field, None)
        set_condition(status, "Unknown", "ToBeRetried", succeeded_condition(archived).get("message", ""))
        metadata = taskrun["metadata"]
        self.enqueue(("taskrun", metadata.get("namespace", ""), metadata["name"]), 0.0)

    def _write(self, taskrun: Obj, status: dict[str, Any]) -> None:
        uid = taskrun["metadata"]["uid"]

        def change(current: Obj) -> Obj:
            if current["metadata"]["uid"] != uid:
                raise ApiError.not_found(TASKRUNS.qualified, current["metadata"]["name"])
            current["status"] = status
            return current

        self.store.update(TASKRUNS, taskrun["metadata"].get("namespace", ""), taskrun["metadata"]["name"], change, subresource="status")

    def _pod(self, taskrun: Obj, name: str, attempt: int, timeout: float) -> Obj:
        """The attempt's pod: one container per step (the simulator has one step), no init containers or sidecars."""
        spec, metadata = taskrun["spec"], taskrun["metadata"]
        template = spec.get("podTemplate") or {}
        pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [_container(taskrun, attempt, template)]}
        pod_spec.update({field: copy.deepcopy(template[field]) for field in _POD_TEMPLATE_FIELDS if field in template})
        if spec["taskSpec"].get("volumes"):
            pod_spec["volumes"] = copy.deepcopy(spec["taskSpec"]["volumes"])
        if spec.get("serviceAccountName"):
            pod_spec["serviceAccountName"] = spec["serviceAccountName"]
        if timeout:
            pod_spec["activeDeadlineSeconds"] = math.ceil(timeout * 1.5)
        labels = {
            **(metadata.get("labels") or {}),
            **MANAGED_BY,
            "tekton.dev/taskRun": metadata["name"],
            "tekton.dev/taskRunUID": metadata["uid"],
        }
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels, "ownerReferences": [owner_reference(taskrun)]},
            "spec": pod_spec,
        }

    # The entrypoint's part, called by the kubelet once the step has exited.

    def write_results(self, pod: Obj, host: Callable[[str], str], code: int) -> str | tuple[str, int] | None:
        """The declared results the step wrote, as the termination message's JSON; over 4096 bytes, no results and
        exit code 1, as the entrypoint fails (T: docs/tasks.md "Emitting Results")."""
        labels = pod["metadata"].get("labels") or {}
        if labels.get("app.kubernetes.io/managed-by") != MANAGED_BY["app.kubernetes.io/managed-by"] or "tekton.dev/taskRun" not in labels:
            return None
        taskrun = self.store.find(TASKRUNS, pod["metadata"].get("namespace", ""), labels["tekton.dev/taskRun"])
        if taskrun is None:
            return None
        internal = [{"key": "StartedAt", "value": _started_of(pod), "type": _INTERNAL_TYPE}]
        written = []
        for result in (taskrun["spec"].get("taskSpec") or {}).get("results") or []:
            path = host(RESULTS_DIR + result["name"])
            if os.path.isfile(path):
                with open(path, "rb") as file:
                    written.append({"key": result["name"], "value": file.read().decode("utf-8", "replace"), "type": _RESULT_TYPE})
        message = _json(internal + written)
        if len(message.encode()) > MESSAGE_LIMIT:
            return _json(internal), 1
        return message


def _json(entries: list[dict[str, Any]]) -> str:
    return json.dumps(entries, separators=(",", ":"), ensure_ascii=False)  # as Go's json.Marshal writes it


def _started_of(pod: Obj) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return str(((statuses[0].get("state") or {}).get("running") or {}).get("startedAt") or rfc3339())


def _started_at(state: dict[str, Any]) -> dict[str, Any]:
    return {"startedAt": state["startedAt"]} if "startedAt" in state else {}


def _pod_name(taskrun: str, attempt: int) -> str:
    return f"{taskrun}-pod" + (f"-retry{attempt}" if attempt else "")


def _timeout(spec: dict[str, Any]) -> float:
    return parse_duration(str(spec["timeout"])) if spec.get("timeout") is not None else DEFAULT_TIMEOUT


def _invalid(spec: dict[str, Any]) -> str | None:
    """What the simulator cannot run, said plainly (Tekton would run it)."""
    task_spec = spec.get("taskSpec")
    if task_spec is None:
        return "the Tekton simulator runs only TaskRuns with an embedded taskSpec (taskRef is not simulated)"
    steps = task_spec.get("steps") or []
    if len(steps) != 1:
        return f"the Tekton simulator runs exactly one step per task, not {len(steps)}"
    if "script" in steps[0]:
        return "the Tekton simulator does not run step scripts: give the step a command"
    return None


def _task_lookup(taskrun: Obj, attempt: int) -> Lookup:
    """Task params (declared defaults, then the TaskRun's values), `context.taskRun.*`, `context.task.retry-count`
    and `results.<r>.path` (T: docs/variables.md "Variables available in a Task")."""
    metadata, spec = taskrun["metadata"], taskrun["spec"]
    values: dict[str, Value] = {p["name"]: p["default"] for p in spec["taskSpec"].get("params") or [] if "default" in p}
    values.update({p["name"]: p["value"] for p in spec.get("params") or []})
    context = {
        "context.taskRun.name": metadata["name"],
        "context.taskRun.namespace": metadata.get("namespace", ""),
        "context.taskRun.uid": metadata["uid"],
        "context.task.name": metadata.get("labels", {}).get("tekton.dev/pipelineTask", ""),
        "context.task.retry-count": str(attempt),
    }
    results = {f"results.{r['name']}.path": RESULTS_DIR + r["name"] for r in spec["taskSpec"].get("results") or []}
    return chain(params_lookup(values), context.get, results.get)


def _container(taskrun: Obj, attempt: int, template: dict[str, Any]) -> dict[str, Any]:
    step = taskrun["spec"]["taskSpec"]["steps"][0]
    lookup = _task_lookup(taskrun, attempt)
    container: dict[str, Any] = {
        "name": f"step-{step['name']}",
        "image": substitute_string(str(step.get("image", "")), lookup),
        "terminationMessagePath": TERMINATION_PATH,
        "terminationMessagePolicy": "File",
    }
    for field in ("command", "args"):
        if field in step:
            container[field] = substitute_list(list(step[field]), lookup)
    env = [*(template.get("env") or []), *(step.get("env") or [])]
    if env:
        container["env"] = [{**item, "value": substitute_string(str(item["value"]), lookup)} if "value" in item else item for item in env]
    if "workingDir" in step:
        container["workingDir"] = substitute_string(str(step["workingDir"]), lookup)
    if "computeResources" in step:
        container["resources"] = copy.deepcopy(step["computeResources"])
    for field in ("envFrom", "volumeMounts"):  # passed on as written (the kubelet mounts no volume)
        if field in step:
            container[field] = copy.deepcopy(step[field])
    return container


def _from_pod(taskrun: Obj, status: dict[str, Any], pod: Obj) -> None:
    """The TaskRun's status from its pod's, as Tekton's `MakeTaskRunStatus` writes it."""
    pod_status = pod.get("status") or {}
    step = taskrun["spec"]["taskSpec"]["steps"][0]
    container = (pod_status.get("containerStatuses") or [{}])[0]
    state = copy.deepcopy(container.get("state") or {"waiting": {"reason": "PodInitializing"}})
    status["steps"] = [{"name": step["name"], "container": f"step-{step['name']}", "imageID": container.get("imageID", ""), **state}]
    phase = pod_status.get("phase")
    if phase not in ("Succeeded", "Failed"):
        running = phase == "Running"
        set_condition(
            status,
            "Unknown",
            "Running" if running else "Pending",
            "Not all Steps in the Task have finished executing" if running else "Pending",
        )
        return
    terminated = state.get("terminated") or {}
    results = _results(taskrun, str(terminated.get("message") or ""))
    if results:
        status["results"] = results
    status["completionTime"] = rfc3339()
    if phase == "Succeeded":
        return set_condition(status, "True", "Succeeded", "All Steps have completed executing")
    if pod_status.get("reason") == "DeadlineExceeded":
        timeout = format_duration(_timeout(taskrun["spec"]))
        return set_condition(
            status, "False", "TaskRunTimeout", f'TaskRun "{taskrun["metadata"]["name"]}" failed to finish within "{timeout}"'
        )
    ignored = (taskrun["metadata"].get("annotations") or {}).get(ON_ERROR_ANNOTATION) == "continue"
    message = f'"step-{step["name"]}" exited with code {terminated.get("exitCode", 1)}'
    set_condition(status, "False", "FailureIgnored" if ignored else "Failed", message)


def _results(taskrun: Obj, message: str) -> list[dict[str, Any]]:
    """The declared results found in the termination message, typed as declared (an array's file holds JSON)."""
    try:
        entries = json.loads(message) if message else []
    except ValueError:
        entries = []
    written = {e.get("key"): e.get("value", "") for e in entries if isinstance(e, dict) and e.get("type") == _RESULT_TYPE}
    results = []
    for declared in taskrun["spec"]["taskSpec"].get("results") or []:
        name, kind = declared["name"], declared.get("type", "string")
        if name not in written:
            continue
        value: Any = written[name]
        if kind in ("array", "object"):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        results.append({"name": name, "type": kind, "value": value})
    return results
