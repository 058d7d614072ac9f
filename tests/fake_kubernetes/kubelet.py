"""The fake kubelet: runs each pod's first container as a local process and writes the pod's status as a kubelet does.

A pod goes Pending (waiting: ContainerCreating) -> Running (Ready) -> Succeeded or Failed (terminated with the
exit code; phase Failed with reason DeadlineExceeded past `activeDeadlineSeconds`). The container's `command` +
`args` run with `subprocess`, in a session of their own so that the whole process group can be signalled, with
the environment environment.py builds. Its stdout and stderr, interleaved, are the pod's log. A graceful
deletion sends SIGTERM, then SIGKILL after the grace period (at most `kill_grace_seconds`), writes the final
status, then removes the pod. `restartPolicy` is always treated as Never. Volumes are not mounted, images are
not pulled (an image can be made to fail to pull), and containers other than the first do not run.

Workflow controllers (Argo, Tekton) read what a step wrote: paths under `mapped_prefixes` live in the pod's folder
(environment.py), and each of `exit_hooks` is called once the container has exited, before the pod's final status
is written, with the pod, a function from container paths to host paths, and the exit code; a hook may answer a new
termination message (Tekton's entrypoint writes its results there), a new message and exit code (the entrypoint
fails a step whose results do not fit), or None.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .environment import POD_IP, ConfigError, configure, host_path, termination_message
from .errors import ApiError
from .logs import LogBuffer
from .objects import Event, Obj, ObjectStore, rfc3339
from .resources import PODS, Resource

ExitHook = Callable[[Obj, Callable[[str], str], int], "str | tuple[str, int] | None"]
"""(pod, container path -> host path, exit code) -> a new termination message (and exit code), or None to keep them."""


class _Gone(Exception):
    """The pod left the store while its status was being written."""


@dataclass
class _PodRun:
    uid: str
    namespace: str
    name: str
    signal: threading.Event = field(default_factory=threading.Event)  # something to react to: deletion, exit, stop
    terminate: bool = False  # a graceful deletion asks the pod to stop
    removed: bool = False  # the pod has left the store: stop now
    grace: float = 0.0
    finished: bool = False
    process: subprocess.Popen[bytes] | None = None
    logs: dict[str, LogBuffer] = field(default_factory=dict)
    workdir: str = ""
    thread: threading.Thread | None = None


class Kubelet:
    def __init__(
        self,
        store: ObjectStore,
        command_map: Mapping[str, str | Sequence[str]] | None = None,
        kill_grace_seconds: float = 1.0,
        container_start_delay: float = 0.0,
    ) -> None:
        self.store = store
        self.command_map = dict(command_map or {})
        self.kill_grace_seconds = kill_grace_seconds
        self.container_start_delay = container_start_delay
        self.failing_images: set[str] = set()
        self.mapped_prefixes: list[str] = []
        self.exit_hooks: list[ExitHook] = []
        self._runs: dict[str, _PodRun] = {}
        self._lock = threading.Lock()
        self._stopping = False
        store.graceful_deleter = self._graceful_delete

    # Events and API hooks.

    def on_event(self, event: Event) -> None:
        if event.resource != PODS:
            return
        metadata = event.obj["metadata"]
        with self._lock:
            run = self._runs.get(metadata["uid"])
        if event.type == "ADDED" and run is None and not self._stopping:
            run = _PodRun(metadata["uid"], metadata.get("namespace", ""), metadata["name"])
            with self._lock:
                self._runs[run.uid] = run
            run.thread = threading.Thread(target=self._run, args=(run,), name=f"kubelet-{run.name}", daemon=True)
            run.thread.start()
        elif event.type == "DELETED" and run is not None:
            run.removed = True
            run.signal.set()

    def _graceful_delete(self, resource: Resource, pod: Obj, grace: int | None) -> bool:
        """Called by the store when a pod is to be deleted: a running pod is stopped first, then removed by `_run`."""
        if resource != PODS or grace == 0:
            return False
        run = self._runs.get(pod["metadata"]["uid"])
        if run is None or run.finished or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return False
        seconds = grace if grace is not None else (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        run.grace = min(float(seconds), self.kill_grace_seconds)
        run.terminate = True
        run.signal.set()
        return True

    def log_buffer(self, uid: str, container: str) -> LogBuffer | None:
        run = self._runs.get(uid)
        return None if run is None else run.logs.get(container)

    def wake_logs(self) -> None:
        for run in list(self._runs.values()):
            for buffer in list(run.logs.values()):
                buffer.wake()

    def processes(self) -> dict[str, int]:
        """The pods whose process is running: "namespace/name" -> pid."""
        return {
            f"{run.namespace}/{run.name}": run.process.pid
            for run in list(self._runs.values())
            if run.process is not None and run.process.poll() is None
        }

    def stop(self) -> None:
        """Kill every pod's processes now and let the pod threads end."""
        self._stopping = True
        runs = list(self._runs.values())
        for run in runs:
            run.removed = True
            run.signal.set()
            _kill_group(run.process, signal.SIGKILL)
        deadline = time.monotonic() + 1
        for run in runs:  # each kills what it started (even one that raced this) and removes its directory
            if run.thread is not None:
                run.thread.join(timeout=max(0.0, deadline - time.monotonic()))

    # A pod's life.

    def _run(self, run: _PodRun) -> None:
        run.workdir = tempfile.mkdtemp(prefix=f"fake-kubelet-{run.name}-")
        try:
            self._lifecycle(run)
        except _Gone:
            pass
        finally:
            _kill_group(run.process, signal.SIGKILL)  # whatever the container left behind
            run.finished = True
            for buffer in run.logs.values():
                buffer.close()
            if run.terminate and not run.removed:
                self.store.remove(PODS, run.namespace, run.name)  # confirm the graceful deletion
            shutil.rmtree(run.workdir, ignore_errors=True)

    def _pod(self, run: _PodRun) -> Obj:
        pod = self.store.find(PODS, run.namespace, run.name)
        if pod is None or pod["metadata"]["uid"] != run.uid:
            raise _Gone
        return pod

    def _write_status(self, run: _PodRun, change: Callable[[dict[str, Any]], None]) -> None:
        def apply(pod: Obj) -> Obj:
            if pod["metadata"]["uid"] != run.uid:
                raise _Gone
            status = pod.setdefault("status", {})
            change(status)
            return pod

        try:
            self.store.update(PODS, run.namespace, run.name, apply, subresource="status")
        except ApiError as error:
            if error.code == 404:
                raise _Gone from None
            raise

    def _wait(self, run: _PodRun, seconds: float | None, deadline: float | None, exited: Callable[[], bool] = lambda: False) -> str | None:
        """Sleep until `seconds` pass (None: for ever) or `exited()`, and answer None; or answer "stop" if the pod is to
        stop, "deadline" if its activeDeadlineSeconds passed."""
        until = None if seconds is None else time.monotonic() + seconds
        while True:
            if exited():
                return None
            if run.removed or run.terminate:
                return "stop"
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return "deadline"
            if until is not None and now >= until:
                return None
            ends = [moment for moment in (until, deadline) if moment is not None]
            run.signal.wait(min(ends) - now if ends else None)
            run.signal.clear()

    def _lifecycle(self, run: _PodRun) -> None:
        pod = self._pod(run)
        spec = pod["spec"]
        container = spec["containers"][0]
        name = container["name"]
        deadline = time.monotonic() + float(spec["activeDeadlineSeconds"]) if spec.get("activeDeadlineSeconds") else None
        self._write_status(run, lambda status: _pending(status, pod, name))
        image = str(container.get("image", ""))
        if image in self.failing_images:  # ErrImagePull, then ImagePullBackOff for ever: the container never starts
            self._waiting(run, "ErrImagePull", f'failed to pull and unpack image "{image}": not found')
            outcome = self._wait(run, 0.3, deadline)
            if outcome is None:
                self._waiting(run, "ImagePullBackOff", f'Back-off pulling image "{image}"')
                outcome = self._wait(run, None, deadline)
            return self._never_started(run, outcome, name)
        while True:  # a missing Secret or ConfigMap holds the container back until it appears
            try:
                launch = configure(self.store, pod, container, run.workdir, self.command_map, self.mapped_prefixes)
                break
            except ConfigError as error:
                self._waiting(run, "CreateContainerConfigError", str(error))
                outcome = self._wait(run, 0.2, deadline)
                if outcome:
                    return self._never_started(run, outcome, name)
                pod = self._pod(run)
        for prefix in self.mapped_prefixes:  # the folders a controller's entrypoint would have made (/tekton/results, ...)
            os.makedirs(host_path(run.workdir, prefix), exist_ok=True)
        outcome = self._wait(run, self.container_start_delay, deadline) if self.container_start_delay else None
        if outcome:
            return self._never_started(run, outcome, name)
        started_at = rfc3339()
        if not launch.argv:
            message = "the fake kubelet runs a container's command: it cannot know the image's entrypoint"
            return self._terminated(run, name, 128, "StartError", message, started_at, None)
        try:
            process = subprocess.Popen(
                launch.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=launch.env,
                cwd=launch.cwd,
                start_new_session=True,
            )
        except OSError as error:
            message = f'failed to create containerd task: OCI runtime create failed: exec: "{launch.argv[0]}": {error.strerror}'
            return self._terminated(run, name, 128, "StartError", message, started_at, None)
        run.process = process
        buffer = run.logs[name] = LogBuffer()
        reader = threading.Thread(target=_read_output, args=(process, buffer), name=f"log-{run.name}", daemon=True)
        reader.start()
        threading.Thread(target=_wait_and_signal, args=(process, run.signal), name=f"wait-{run.name}", daemon=True).start()
        self._write_status(run, lambda status: _running(status, name, started_at))
        outcome = self._wait(run, None, deadline, exited=lambda: process.poll() is not None)
        if outcome:
            self._kill(run, process, now=run.removed)
        reader.join(timeout=1)
        code = process.returncode if process.returncode >= 0 else 128 - process.returncode
        message = termination_message(launch.message_path, container, code, buffer)
        for hook in self.exit_hooks:
            try:
                replaced = hook(self._pod(run), lambda path: host_path(run.workdir, path), code)
            except _Gone:
                raise
            except Exception:  # a broken hook is the test's bug: show it, and let the pod end all the same
                traceback.print_exc()
                continue
            if isinstance(replaced, tuple):
                message, code = replaced
            elif replaced is not None:
                message = replaced
        self._terminated(run, name, code, "Completed" if code == 0 else "Error", message, started_at, outcome)

    def _kill(self, run: _PodRun, process: subprocess.Popen[bytes], now: bool) -> None:
        """SIGTERM to the process group, SIGKILL after the grace period, as the runtime stops a container."""
        if not now:
            _kill_group(process, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=run.grace if run.terminate else self.kill_grace_seconds)
        _kill_group(process, signal.SIGKILL)
        process.wait()

    def _waiting(self, run: _PodRun, reason: str, message: str) -> None:
        def change(status: dict[str, Any]) -> None:
            status["containerStatuses"][0]["state"] = {"waiting": {"reason": reason, "message": message}}

        self._write_status(run, change)

    def _never_started(self, run: _PodRun, outcome: str | None, container: str) -> None:
        if outcome == "deadline":
            message = "The container could not be located when the pod was terminated"
            self._terminated(run, container, 137, "ContainerStatusUnknown", message, None, outcome)

    def _terminated(
        self, run: _PodRun, container: str, code: int, reason: str, message: str, started_at: str | None, outcome: str | None
    ) -> None:
        if run.removed:
            return
        finished_at = rfc3339()

        def change(status: dict[str, Any]) -> None:
            terminated = {"exitCode": code, "reason": reason, "startedAt": started_at, "finishedAt": finished_at}
            if message:
                terminated["message"] = message
            if started_at is None:
                del terminated["startedAt"]
            status["containerStatuses"][0].update(ready=False, started=False, state={"terminated": terminated})
            status["phase"] = "Succeeded" if code == 0 and outcome != "deadline" else "Failed"
            if outcome == "deadline":
                status.update(reason="DeadlineExceeded", message="Pod was active on the node longer than the specified deadline")
            _set_conditions(status, ready=False, reason="PodCompleted")

        self._write_status(run, change)


def _kill_group(process: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)  # the process leads its own session, so its group id is its pid


def _wait_and_signal(process: subprocess.Popen[bytes], event: threading.Event) -> None:
    process.wait()
    event.set()


def _read_output(process: subprocess.Popen[bytes], buffer: LogBuffer) -> None:
    assert process.stdout is not None
    for line in iter(process.stdout.readline, b""):
        buffer.append(line)
    process.stdout.close()


def _set_conditions(status: dict[str, Any], ready: bool, reason: str | None = None, message: str | None = None) -> None:
    now = rfc3339()
    conditions = {condition["type"]: condition for condition in status.get("conditions") or []}
    for kind in ("Ready", "ContainersReady"):
        condition = {"type": kind, "status": "True" if ready else "False", "lastProbeTime": None, "lastTransitionTime": now}
        if reason:
            condition["reason"] = reason
        if message:
            condition["message"] = message
        conditions[kind] = condition
    status["conditions"] = list(conditions.values())


def _pending(status: dict[str, Any], pod: Obj, container: str) -> None:
    now = rfc3339()
    status.update(phase="Pending", hostIP=POD_IP, podIP=POD_IP, podIPs=[{"ip": POD_IP}], startTime=now)
    status["conditions"] = [
        {"type": kind, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
        for kind in ("PodReadyToStartContainers", "Initialized", "PodScheduled")
    ]
    _set_conditions(status, ready=False, reason="ContainersNotReady", message=f"containers with unready status: [{container}]")
    image = pod["spec"]["containers"][0].get("image", "")
    status["containerStatuses"] = [
        {
            "name": container,
            "image": image,
            "imageID": "",
            "ready": False,
            "restartCount": 0,
            "started": False,
            "state": {"waiting": {"reason": "ContainerCreating"}},
        }
    ]


def _running(status: dict[str, Any], container: str, started_at: str) -> None:
    status["phase"] = "Running"
    status["containerStatuses"][0].update(
        ready=True, started=True, containerID=f"fake://{container}-{time.monotonic_ns()}", state={"running": {"startedAt": started_at}}
    )
    _set_conditions(status, ready=True)
