"""The Argo workflow controller's loop: a work queue of Workflows fed by Workflow and pod events, one reconcile
(operator.py) per Workflow at a time, the status written back to the Workflow (it has no status subresource), and
the kubelet exit hook that stands in for Argo's wait container, reading output parameter files after `main` exits.
"""

from __future__ import annotations

import contextlib
import copy
import heapq
import itertools
import os
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from ..errors import ApiError
from ..kubelet import Kubelet
from ..objects import Event, Obj, ObjectStore
from ..resources import PODS, Resource
from .operator import COMPLETED_LABEL, PHASE_LABEL, WORKFLOW_LABEL, Memory, Operation, Output

WORKFLOWS = Resource("argoproj.io", "v1alpha1", "workflows")
_DONE = ("Succeeded", "Failed", "Error")


class ArgoController:
    def __init__(self, store: ObjectStore, kubelet: Kubelet) -> None:
        self.store = store
        self.kubelet = kubelet
        self._memory: dict[str, Memory] = {}  # workflow uid -> clocks
        self._declared: dict[str, list[dict[str, Any]]] = {}  # pod uid -> its output parameters
        self._read: dict[str, dict[str, str | None]] = {}  # pod uid -> the values its exit hook read
        self._lock = threading.Lock()
        self._queue: list[tuple[float, int, tuple[str, str]]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="fake-argo-controller", daemon=True)
        kubelet.exit_hooks.append(self._read_outputs)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join(timeout=1)

    # Informers.

    def on_event(self, event: Event) -> None:
        metadata = event.obj["metadata"]
        if event.resource == WORKFLOWS:
            if event.type == "DELETED":
                self._memory.pop(metadata["uid"], None)
            else:
                self._enqueue((metadata.get("namespace", ""), metadata["name"]))
        elif event.resource == PODS and WORKFLOW_LABEL in (metadata.get("labels") or {}):
            self._enqueue((metadata.get("namespace", ""), metadata["labels"][WORKFLOW_LABEL]))

    def _enqueue(self, key: tuple[str, str], delay: float = 0.0) -> None:
        with self._changed:
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._order), key))
            self._changed.notify_all()

    def _loop(self) -> None:
        while True:
            with self._changed:
                while not self._stopping and (not self._queue or self._queue[0][0] > time.monotonic()):
                    self._changed.wait(None if not self._queue else self._queue[0][0] - time.monotonic())
                if self._stopping:
                    return
                due = set()
                while self._queue and self._queue[0][0] <= time.monotonic():
                    due.add(heapq.heappop(self._queue)[2])
            for key in sorted(due):
                try:
                    self._reconcile(*key)
                except ApiError:
                    self._enqueue(key, 0.05)  # a write raced another: look again
                except Exception:
                    traceback.print_exc()
                    self._enqueue(key, 0.5)

    # Reconciling.

    def _reconcile(self, namespace: str, name: str) -> None:
        workflow = self.store.find(WORKFLOWS, namespace, name)
        if workflow is None or "deletionTimestamp" in workflow["metadata"]:
            return
        workflow = copy.deepcopy(workflow)
        memory = self._memory.setdefault(workflow["metadata"]["uid"], Memory())
        operation = Operation(workflow, memory, _StorePods(self))
        operation.run()
        self._write(workflow, operation.status)
        if operation.wake_after is not None and operation.status.get("phase") not in _DONE:
            self._enqueue((namespace, name), operation.wake_after)

    def _write(self, workflow: Obj, status: dict[str, Any]) -> None:
        """Write status and the phase/completed labels with the store's update, onto whatever spec is current."""
        uid = workflow["metadata"]["uid"]
        phase = status.get("phase", "")
        labels = {PHASE_LABEL: phase, COMPLETED_LABEL: "true" if phase in _DONE else "false"} if phase else {}
        if workflow.get("status") == status and all((workflow["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items()):
            return

        def change(current: Obj) -> Obj:
            if current["metadata"]["uid"] != uid:
                raise ApiError.not_found(WORKFLOWS.qualified, current["metadata"]["name"])
            current["status"] = status
            current["metadata"].setdefault("labels", {}).update(labels)
            return current

        with contextlib.suppress(ApiError):  # deleted meanwhile: nothing to write
            self.store.update(WORKFLOWS, workflow["metadata"].get("namespace", ""), workflow["metadata"]["name"], change)

    # The wait container's part: output parameter files, read once `main` has exited.

    def _read_outputs(self, pod: Obj, host_path: Callable[[str], str], exit_code: int) -> None:
        declared = self._declared.get(pod["metadata"]["uid"])
        if declared is None:
            return
        values = {parameter["name"]: _read_parameter(host_path(parameter["path"])) for parameter in declared}
        with self._lock:
            self._read[pod["metadata"]["uid"]] = values

    def declare(self, pod: Obj, outputs: list[dict[str, Any]]) -> None:
        """Remember what a new pod's exit hook reads, and map the folders of its output files into pods."""
        for parameter in outputs:
            folder = os.path.dirname(parameter["path"]) + "/"
            if folder not in self.kubelet.mapped_prefixes:
                self.kubelet.mapped_prefixes.append(folder)
        self._declared[pod["metadata"]["uid"]] = outputs

    def outputs(self, pod: Obj) -> list[Output]:
        uid = pod["metadata"]["uid"]
        with self._lock:
            values = self._read.get(uid, {})
        return [
            Output(parameter["name"], parameter["path"], values.get(parameter["name"]), parameter.get("default"))
            for parameter in self._declared.get(uid, [])
        ]


def _read_parameter(path: str) -> str | None:
    """The file's text with exactly one trailing newline trimmed (A: workflow/executor/executor.go), or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            value = file.read()
    except OSError:
        return None
    return value[:-1] if value.endswith("\n") else value


class _StorePods:
    """operator.Pods on the object store: pods are created and deleted as a controller's client would."""

    def __init__(self, controller: ArgoController) -> None:
        self.controller = controller
        self.store = controller.store

    def find(self, namespace: str, name: str) -> Obj | None:
        pod = self.store.find(PODS, namespace, name)
        return None if pod is None else copy.deepcopy(pod)

    def create(self, pod: Obj, outputs: list[dict[str, Any]]) -> None:
        # Under the store's lock, so the declaration (and its folder mapping) is in place before the informer hands the
        # new pod to the kubelet: the pod's uid is only known once it is created.
        with self.store.lock:
            created = self.store.create(PODS, pod["metadata"]["namespace"], pod)
            self.controller.declare(created, outputs)

    def delete(self, namespace: str, name: str) -> None:
        with contextlib.suppress(ApiError):
            self.store.delete(PODS, namespace, name, "Background")

    def completed(self, namespace: str, name: str) -> None:
        def label(pod: Obj) -> Obj:
            pod["metadata"].setdefault("labels", {})[COMPLETED_LABEL] = "true"
            return pod

        with contextlib.suppress(ApiError):
            self.store.update(PODS, namespace, name, label)

    def outputs(self, pod: Obj) -> list[Output]:
        return self.controller.outputs(pod)
