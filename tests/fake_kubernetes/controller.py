"""The fake Job controller: one pod at a time from `spec.template`, retries under `backoffLimit`, deadlines, the
Kubernetes 1.31+ status (`FailureTarget`/`SuccessCriteriaMet` first, `Failed`/`Complete` once no pod is left
running), and deletion `ttlSecondsAfterFinished` after the end (in the foreground, as the TTL controller does).
Counters are written as the real JSON has them: `ready` and `terminating` always, `active`, `succeeded` and
`failed` only when not 0. A pod that is deleted while its Job runs counts as failed and is replaced at once
(`podReplacementPolicy: TerminatingOrFailed`, the default); retries wait `backoff_base_seconds * 2^(failures-1)`.

Only `completions: 1` and `parallelism: 1` (the defaults) are simulated; `podFailurePolicy`, `successPolicy`,
Indexed completion and `backoffLimitPerIndex` are not. A suspended Job (`spec.suspend: true`) does not start
until it is resumed. Finished pods are counted once, in memory (not through the `job-tracking` finalizer).
"""

from __future__ import annotations

import contextlib
import copy
import heapq
import itertools
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError
from .objects import Event, Obj, ObjectStore, rfc3339
from .resources import JOBS, PODS

_TERMINAL = ("Succeeded", "Failed")
_MESSAGES = {
    "CompletionsReached": "Reached expected number of succeeded pods",
    "BackoffLimitExceeded": "Job has reached the specified backoff limit",
    "DeadlineExceeded": "Job was active longer than specified deadline",
}


@dataclass
class _Track:
    """What the controller remembers of one Job (by uid)."""

    counted: set[str] = field(default_factory=set)  # pods already in `succeeded` or `failed`
    seen: set[str] = field(default_factory=set)  # pods it has seen: one that vanishes uncounted failed
    started: float | None = None  # monotonic time of `startTime`
    last_failure: float = 0.0
    finished: float | None = None


def _condition(kind: str, reason: str) -> dict[str, Any]:
    now = rfc3339()
    return {"type": kind, "status": "True", "reason": reason, "message": _MESSAGES[reason], "lastProbeTime": now, "lastTransitionTime": now}


def _find(conditions: list[dict[str, Any]], *kinds: str) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") in kinds and c.get("status") == "True"), None)


def _controller_of(pod: Obj) -> tuple[str, str] | None:
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == "Job":
            return ref.get("name", ""), ref.get("uid", "")
    return None


class JobController:
    def __init__(self, store: ObjectStore, backoff_base_seconds: float = 0.1) -> None:
        self.store = store
        self.backoff_base_seconds = backoff_base_seconds  # a real controller's is 10 s: 10 s * 2^(failures - 1), up to 6 min
        self._tracks: dict[str, _Track] = {}
        self._queue: list[tuple[float, int, tuple[str, str]]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="fake-job-controller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join(timeout=1)

    def on_event(self, event: Event) -> None:
        metadata = event.obj["metadata"]
        if event.resource == JOBS:
            if event.type == "DELETED":
                self._tracks.pop(metadata["uid"], None)
            self.enqueue((metadata.get("namespace", ""), metadata["name"]))
        elif event.resource == PODS:
            for pod in (event.obj, event.old):  # `old`: a pod orphaned from its Job is still news to that Job
                owner = _controller_of(pod) if pod is not None else None
                if owner is not None:
                    self.enqueue((metadata.get("namespace", ""), owner[0]))

    def enqueue(self, key: tuple[str, str], delay: float = 0.0) -> None:
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
                    self.enqueue(key, 0.05)  # a write raced another: look again
                except Exception:
                    traceback.print_exc()
                    self.enqueue(key, 0.5)

    def _write(self, job: Obj, status: dict[str, Any]) -> None:
        uid = job["metadata"]["uid"]

        def change(current: Obj) -> Obj:
            if current["metadata"]["uid"] != uid:
                raise ApiError.not_found("jobs.batch", job["metadata"]["name"])
            current["status"] = status
            return current

        self.store.update(JOBS, job["metadata"].get("namespace", ""), job["metadata"]["name"], change, subresource="status")

    def _reconcile(self, namespace: str, name: str) -> None:
        job = self.store.find(JOBS, namespace, name)
        if job is None or "deletionTimestamp" in job["metadata"]:
            return
        uid, spec = job["metadata"]["uid"], job["spec"]
        track = self._tracks.setdefault(uid, _Track())
        status = copy.deepcopy(job.get("status") or {})
        conditions: list[dict[str, Any]] = status.get("conditions") or []
        now = time.monotonic()
        if _find(conditions, "Complete", "Failed"):
            return self._expire(job, track, now)
        if spec.get("suspend"):
            return
        if "startTime" not in status:
            status["startTime"] = rfc3339()
        if track.started is None:
            track.started = now
        pods = [pod for pod in self.store.select(PODS, namespace)[0] if (_controller_of(pod) or ("", ""))[1] == uid]
        succeeded, failed = int(status.get("succeeded", 0)), int(status.get("failed", 0))
        present = set()
        for pod in pods:
            pod_uid = pod["metadata"]["uid"]
            present.add(pod_uid)
            track.seen.add(pod_uid)
            phase = (pod.get("status") or {}).get("phase")
            if pod_uid in track.counted:
                continue
            if phase == "Succeeded":
                succeeded += 1
                track.counted.add(pod_uid)
            elif phase == "Failed" or "deletionTimestamp" in pod["metadata"]:  # podReplacementPolicy TerminatingOrFailed
                failed += 1
                track.counted.add(pod_uid)
                track.last_failure = now
        for pod_uid in track.seen - present - track.counted:  # deleted at once: it failed
            failed += 1
            track.counted.add(pod_uid)
            track.last_failure = now
        running = [pod for pod in pods if (pod.get("status") or {}).get("phase") not in _TERMINAL]
        active = [pod for pod in running if "deletionTimestamp" not in pod["metadata"]]
        terminating = len(running) - len(active)
        ready = sum(
            1
            for pod in active
            for c in (pod.get("status") or {}).get("conditions") or []
            if c.get("type") == "Ready" and c.get("status") == "True"
        )

        target = _find(conditions, "SuccessCriteriaMet", "FailureTarget")
        if target is None:
            deadline = spec.get("activeDeadlineSeconds")
            if succeeded >= int(spec.get("completions", 1)):
                target = _condition("SuccessCriteriaMet", "CompletionsReached")
            elif failed > int(spec.get("backoffLimit", 6)):
                target = _condition("FailureTarget", "BackoffLimitExceeded")
            elif deadline is not None and now - track.started >= float(deadline):
                target = _condition("FailureTarget", "DeadlineExceeded")
            if target is not None:
                conditions.append(target)
                self._write(job, _counted(status, conditions, len(active), ready, terminating, succeeded, failed))
        if target is not None:
            for pod in active:  # the Job has its outcome: stop what still runs
                with contextlib.suppress(ApiError):
                    self.store.delete(PODS, namespace, pod["metadata"]["name"], "Background")
            if running:
                new_status = _counted(status, conditions, 0, 0, len(running), succeeded, failed)
            else:
                done = "Complete" if target["type"] == "SuccessCriteriaMet" else "Failed"
                conditions.append({**_condition(done, target["reason"]), "message": target["message"]})
                if done == "Complete":
                    status["completionTime"] = rfc3339()
                track.finished = now
                new_status = _counted(status, conditions, 0, 0, 0, succeeded, failed)
                self.enqueue((namespace, name))  # for ttlSecondsAfterFinished
        else:
            created = 0
            if not active:
                delay = 0.0 if failed == 0 else min(self.backoff_base_seconds * 2 ** (failed - 1), self.backoff_base_seconds * 36)
                if now >= track.last_failure + delay:
                    self._create_pod(job)
                    created = 1  # counted as active at once, as the controller does after creating
                else:
                    self.enqueue((namespace, name), track.last_failure + delay - now)
            if spec.get("activeDeadlineSeconds") is not None:
                self.enqueue((namespace, name), max(0.0, track.started + float(spec["activeDeadlineSeconds"]) - now))
            new_status = _counted(status, conditions, len(active) + created, ready, terminating, succeeded, failed)
        current = self.store.find(JOBS, namespace, name)
        if current is not None and new_status != current.get("status"):
            self._write(job, new_status)

    def _create_pod(self, job: Obj) -> None:
        metadata, template = job["metadata"], job["spec"]["template"]
        template_metadata = template.get("metadata") or {}
        owner = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": metadata["name"],
            "uid": metadata["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "generateName": f"{metadata['name']}-",
                "labels": dict(template_metadata.get("labels") or {}),
                "annotations": dict(template_metadata.get("annotations") or {}),
                "ownerReferences": [owner],
            },
            "spec": copy.deepcopy(template["spec"]),
        }
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        self.store.create(PODS, metadata.get("namespace", ""), pod)

    def _expire(self, job: Obj, track: _Track, now: float) -> None:
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        if ttl is None:
            return
        if track.finished is None:
            track.finished = now
        due = track.finished + float(ttl)
        if now < due:
            return self.enqueue((job["metadata"].get("namespace", ""), job["metadata"]["name"]), due - now)
        with contextlib.suppress(ApiError):  # the TTL-after-finished controller deletes in the foreground: pods first, then the Job
            self.store.delete(
                JOBS,
                job["metadata"].get("namespace", ""),
                job["metadata"]["name"],
                "Foreground",
                preconditions={"uid": job["metadata"]["uid"]},
            )


def _counted(
    status: dict[str, Any], conditions: list[dict[str, Any]], active: int, ready: int, terminating: int, succeeded: int, failed: int
) -> dict[str, Any]:
    """The status with its counters; like the real JSON, `active`, `succeeded` and `failed` are left out when 0."""
    result = {
        key: value for key, value in status.items() if key not in ("active", "succeeded", "failed", "ready", "terminating", "conditions")
    }
    for key, value in (("active", active), ("succeeded", succeeded), ("failed", failed)):
        if value:
            result[key] = value
    result.update(ready=ready, terminating=terminating)
    if conditions:
        result["conditions"] = copy.deepcopy(conditions)
    return result
