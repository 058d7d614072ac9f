"""The simulator's controller: a work queue fed by the cluster's events, for the PipelineRun and TaskRun reconcilers."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import traceback

from ..errors import ApiError
from ..kubelet import Kubelet
from ..objects import Event, Obj, ObjectStore
from ..resources import PODS
from .pipelinerun import PIPELINERUNS, PipelineRunReconciler
from .taskrun import MANAGED_BY, RESULTS_DIR, TASKRUNS, TaskRunReconciler

Key = tuple[str, str, str]  # ("pipelinerun" | "taskrun", namespace, name)


class TektonController:
    """Tekton Pipelines' two reconcilers on one worker thread, as `FakeKubernetes(engines=("tekton",))` runs it."""

    def __init__(self, store: ObjectStore, kubelet: Kubelet) -> None:
        self.store = store
        self.taskruns = TaskRunReconciler(store, self.enqueue)
        self.pipelineruns = PipelineRunReconciler(store, self.enqueue)
        kubelet.mapped_prefixes.append(RESULTS_DIR)
        kubelet.exit_hooks.append(self.taskruns.write_results)
        self._queue: list[tuple[float, int, Key]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="fake-tekton-controller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join(timeout=1)

    def on_event(self, event: Event) -> None:
        """A PipelineRun's own changes and its TaskRuns' wake it; a TaskRun's own changes and its pod's wake that."""
        namespace = event.obj["metadata"].get("namespace", "")
        labels = event.obj["metadata"].get("labels") or {}
        if event.resource == PIPELINERUNS:
            self.enqueue(("pipelinerun", namespace, event.obj["metadata"]["name"]))
        elif event.resource == TASKRUNS:
            self.enqueue(("taskrun", namespace, event.obj["metadata"]["name"]))
            if "tekton.dev/pipelineRun" in labels:
                self.enqueue(("pipelinerun", namespace, labels["tekton.dev/pipelineRun"]))
        elif event.resource == PODS and _managed(event.obj) and "tekton.dev/taskRun" in labels:
            self.enqueue(("taskrun", namespace, labels["tekton.dev/taskRun"]))

    def enqueue(self, key: Key, delay: float = 0.0) -> None:
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
                due: set[Key] = set()
                while self._queue and self._queue[0][0] <= time.monotonic():
                    due.add(heapq.heappop(self._queue)[2])
            for key in sorted(due, key=lambda k: k[0] != "taskrun"):  # TaskRuns first: their runs then see fresh statuses
                self._reconcile(key)

    def _reconcile(self, key: Key) -> None:
        kind, namespace, name = key
        reconciler = self.taskruns if kind == "taskrun" else self.pipelineruns
        try:
            reconciler.reconcile(namespace, name)
        except ApiError:
            self.enqueue(key, 0.05)  # a write raced another: look again
        except Exception:  # the simulator's bug: show it, and try again later rather than stop the controller
            traceback.print_exc()
            self.enqueue(key, 0.5)


def _managed(obj: Obj) -> bool:
    labels = obj["metadata"].get("labels") or {}
    return labels.get("app.kubernetes.io/managed-by") == MANAGED_BY["app.kubernetes.io/managed-by"]
