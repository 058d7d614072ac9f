"""Attempts as Kubernetes Jobs: created through the API server, followed through one shared watch.

The engine is the local backend's; only where an attempt runs differs. For each attempt the
launcher creates a Job (manifest.py), and learns how it ends from the run's one Job watch
(watch.py): only a `Complete` or `Failed` condition ends an attempt. The executor in the pod
stores its result in the artifact store, where the launcher reads it. The pod's log is followed
while it runs (to the task's log file and the console) and copied to the artifact store when the
attempt ends, so it outlives the pod.

API requests per attempt: the Job's creation, one list of its pods and one log stream; a failed
attempt adds one read of its pod (its exit code). The watch is the run's, not the attempt's.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from ...core.ir import TaskSettings
from ...core.launcher import AttemptOutcome, tee_lines
from ...core.lifecycle import ErrorKind
from ...core.stores import Stores
from ...core.task_spec import TaskResult, TaskSpec, decode_result, encode
from ..kube.client import api_client, describe_api_error, is_retryable
from ..kube.credentials import delete_run_secret, make_run_secret, store_credentials
from ..kube.pods import exit_of
from ..kube.watch import ResourceWatch
from .manifest import (
    CONTAINER,
    RUN_LABEL,
    SPEC_ENV_LIMIT,
    PodSettings,
    job_manifest,
    job_name,
    label_value,
    pod_spec_of,
    spec_uri_of,
)

log = logging.getLogger(__name__)

CREATE_RETRY_SECONDS = 300.0
"""How long creating a Job is retried (same name, so at most one exists) while the API server fails or is out of reach."""
REQUEST_TIMEOUT = (10.0, 60.0)
"""(connect, read) seconds of every request but the followed log (quiet while the task is), which the attempt's end closes:
a half-open connection must not hang the run."""
START_TIMEOUT_SECONDS = 300.0
"""A Job not ready after this long has its pod looked at: one waiting on an image or a Secret ends as LaunchFailed."""
STUCK_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError")
LOG_WAIT_SECONDS = 1.0
"""Before trying again to follow a log whose container has not started yet; doubled each time, four tries at most."""
RESULT_NAME = ".sluiceway/result.json"
LOG_NAME = ".sluiceway/log.txt"


class KubernetesJobLauncher:
    """Runs each attempt as a `batch/v1` Job in `namespace`; see the module's docstring and docs/how-to/kubernetes.md."""

    def __init__(
        self,
        *,
        namespace: str = "default",
        image: str | None = None,
        kubeconfig: str | None = None,
        context: str | None = None,
        python: str = "python",
        service_account: str | None = None,
        image_pull_secrets: list[str] | tuple[str, ...] = (),
        node_selector: dict[str, str] | None = None,
        tolerations: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        ttl_seconds_after_finished: int = 3600,
        work_root: str = "/tmp/sluiceway",
        credentials_secret: str | None = None,
        watch_timeout_seconds: int = 300,
        timeout_grace_seconds: float = 30.0,
        start_timeout_seconds: float = START_TIMEOUT_SECONDS,
        echo: IO[str] | None = None,
        venv_root: Path | None = None,
        client: Any = None,
    ) -> None:
        """`kubeconfig` None: in-cluster configuration when running in a pod, else ~/.kube/config (or $KUBECONFIG).
        `venv_root` is the local backend's and not used: a task's packages are installed in its pod."""
        self.settings = PodSettings(
            namespace=namespace,
            image=image,
            python=python,
            service_account=service_account,
            image_pull_secrets=tuple(image_pull_secrets),
            node_selector=dict(node_selector or {}),
            tolerations=tuple(tolerations),
            labels=dict(labels or {}),
            annotations=dict(annotations or {}),
            ttl_seconds_after_finished=ttl_seconds_after_finished,
            work_root=work_root,
            credentials_secret=credentials_secret,
        )
        self.echo = echo
        self.watch_timeout_seconds = watch_timeout_seconds
        self.timeout_grace_seconds = timeout_grace_seconds
        self.start_timeout_seconds = start_timeout_seconds
        self._client = client if client is not None else api_client(kubeconfig, context)
        from kubernetes import client as k8s

        self.batch = k8s.BatchV1Api(self._client)
        self.core = k8s.CoreV1Api(self._client)
        self._attempts: dict[str, JobAttempt] = {}
        self._lock = threading.Lock()
        self._watch: ResourceWatch | None = None
        self._made_secret: str | None = None
        self._stores: Stores | None = None
        self._work = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sluiceway-k8s")

    def launch(
        self,
        spec: TaskSpec,
        *,
        spec_path: Path,
        log_path: Path,
        timeout_seconds: float | None,
        on_end: Callable[[AttemptOutcome], None],
        settings: TaskSettings | None = None,
    ) -> JobAttempt:
        name = job_name(spec.run_id, spec.task, spec.attempt)
        result_uri = f"{spec.output_root}/{RESULT_NAME}"
        self._start_watch(spec.run_id)
        pod_settings = replace(self.settings, credentials_secret=self._credentials_secret(spec))
        pod_spec = encode(pod_spec_of(spec, pod_settings, result_uri))
        spec_uri = spec_uri_of(spec) if len(pod_spec) > SPEC_ENV_LIMIT else None
        task_settings = settings or TaskSettings()
        manifest = job_manifest(
            spec, task_settings, pod_settings, result_uri=result_uri, timeout_seconds=timeout_seconds, spec_uri=spec_uri
        )
        attempt = JobAttempt(self, spec, name, log_path, timeout_seconds, on_end, result_uri)
        with self._lock:
            self._attempts[name] = attempt
        self._work.submit(attempt.create, manifest, (pod_spec, spec_uri) if spec_uri else None)
        return attempt

    def close(self) -> None:
        """Stop the run's watch and remove the credentials Secret made for the run (its Jobs are left to their TTL)."""
        with self._lock:
            watch, self._watch = self._watch, None
            secret, self._made_secret = self._made_secret, None
        if watch is not None:
            watch.stop()
        if secret is not None:
            delete_run_secret(self.core, self.settings.namespace, secret)
        self._work.shutdown(wait=False)

    # The watch.

    def _start_watch(self, run_id: str) -> None:
        with self._lock:
            if self._watch is not None:
                return
            self._watch = ResourceWatch(
                self.batch.list_namespaced_job,
                "Jobs",
                self.settings.namespace,
                f"{RUN_LABEL}={label_value(run_id)}",
                self._on_event,
                self._on_list,
                timeout_seconds=self.watch_timeout_seconds,
            )
        self._watch.start()

    def _on_event(self, kind: str, job: dict[str, Any]) -> None:
        attempt = self._attempts.get(job.get("metadata", {}).get("name", ""))
        if attempt is None:
            return
        status = job.get("status") or {}
        for condition in status.get("conditions") or []:  # a deleted Job's last state counts too (its TTL came first)
            if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
                attempt.job_ended(condition["type"], condition.get("reason") or "", condition.get("message") or "")
                return
        if kind == "DELETED":
            attempt.job_gone()
            return
        if status.get("ready"):  # its container runs: the log can be followed (a pod still pulling its image has none yet)
            attempt.job_started()

    def _on_list(self, jobs: list[dict[str, Any]]) -> None:
        listed = {job["metadata"]["name"] for job in jobs}
        for job in jobs:
            self._on_event("MODIFIED", job)
        with self._lock:
            unlisted = [attempt for name, attempt in self._attempts.items() if name not in listed and attempt.created]
        for attempt in unlisted:  # deleted while no watch was open, or created after the list: asking tells which
            self._work.submit(attempt.confirm_gone)

    def _forget(self, name: str) -> None:
        with self._lock:
            self._attempts.pop(name, None)

    def stores(self, spec: TaskSpec) -> Stores:
        """The run's artifact stores (every attempt of a run names the same ones), made once: an SDK client is costly."""
        if self._stores is None:
            self._stores = Stores(spec.stores)
        return self._stores

    # Credentials.

    def _credentials_secret(self, spec: TaskSpec) -> str | None:
        """The Secret that gives pods the artifact store's credentials: the configured one, or one made for the run
        (kube/credentials.py)."""
        if self.settings.credentials_secret is not None:
            return self.settings.credentials_secret
        with self._lock:
            if self._made_secret is None:
                values = store_credentials(spec.output_root.partition("://")[0], self.stores(spec))
                if values:
                    self._made_secret = make_run_secret(self.core, self.settings.namespace, spec.run_id, values)
            return self._made_secret


class JobAttempt:
    """One attempt's Job, from creation to the outcome reported to the engine (exactly once)."""

    def __init__(
        self,
        launcher: KubernetesJobLauncher,
        spec: TaskSpec,
        name: str,
        log_path: Path,
        timeout_seconds: float | None,
        on_end: Callable[[AttemptOutcome], None],
        result_uri: str,
    ) -> None:
        self.launcher = launcher
        self.spec = spec
        self.name = name
        self.log_path = log_path
        self.timeout_seconds = timeout_seconds
        self.on_end = on_end
        self.result_uri = result_uri
        self.created = False
        self.stop_reason: str | None = None
        self._stuck = ""
        self._ended = False
        self._following: threading.Thread | None = None
        self._log_complete = False
        self._pod: str | None = None
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._start_timer: threading.Timer | None = None
        self._stream: Any = None
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_start = log_path.stat().st_size if log_path.exists() else 0

    @property
    def namespace(self) -> str:
        return self.launcher.settings.namespace

    # What the engine asks.

    def cancel(self, *, force: bool = False) -> None:
        self._stop("cancelled", grace_seconds=0 if force else None)

    # Creation.

    def create(self, manifest: dict[str, Any], stored_spec: tuple[bytes, str] | None = None) -> None:
        """Create the Job (storing its task spec first when it is too large for the pod's environment)."""
        if stored_spec is not None:
            local = Path(self.spec.result_path).with_name("pod-spec.json")
            try:
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_bytes(stored_spec[0])
                self.launcher.stores(self.spec).upload(local, stored_spec[1])
            except Exception as error:  # no spec, no attempt: said as a launch failure, retried like one
                self._end(AttemptOutcome(end="lost", kind=ErrorKind.LAUNCH_FAILED, message=f"could not store the task spec: {error}"))
                return
        if self.timeout_seconds is not None:  # the Job's deadline should end it first; this is for a Job that cannot be made
            self._timer = _timer(self.timeout_seconds + self.launcher.timeout_grace_seconds, self._stop, "timed_out")
        delay, deadline, answered = 0.2, time.monotonic() + CREATE_RETRY_SECONDS, True
        while True:
            if self.stop_reason is not None:
                if not answered:  # an earlier try may have made it
                    self._delete(None)
                self._end(self._stopped_outcome())
                return
            try:
                self.launcher.batch.create_namespaced_job(self.namespace, manifest, _request_timeout=REQUEST_TIMEOUT)
                break
            except Exception as error:
                status = getattr(error, "status", None)
                if status == 409:  # an earlier try was made though its answer was lost
                    break
                answered = isinstance(status, int) and 0 < status < 500  # a refusal, not a failure midway
                if time.monotonic() > deadline or not is_retryable(error):
                    if not answered:
                        self._delete(None)
                    message = f"the Job {self.name} could not be created: {describe_api_error(error)}"
                    self._end(AttemptOutcome(end="lost", kind=ErrorKind.LAUNCH_FAILED, message=message))
                    return
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        self.created = True
        self._start_timer = _timer(self.launcher.start_timeout_seconds, self._check_start)
        if self.stop_reason is not None:  # cancelled while it was being created
            self._delete(None)

    # What the watch says.

    def job_started(self) -> None:
        with self._lock:
            if self._following is not None or self._ended:
                return
            # Started under the lock: _keep_log joins this thread, which it cannot do before the thread has started.
            self._following = threading.Thread(target=self._follow_log, name=f"sluiceway-log-{self.name}", daemon=True)
            self._following.start()

    def job_ended(self, condition: str, reason: str, message: str) -> None:
        if self._claim():
            self.launcher._work.submit(self._finish, condition, reason, message)

    def job_gone(self) -> None:
        """The Job was deleted: by us (cancelled, timed out), by its TTL after it ended unseen, or by someone else."""
        if self._claim():
            self.launcher._work.submit(self._finish, None, "", "")

    def _check_start(self) -> None:
        """Not ready after `start_timeout_seconds`: a pod waiting on something that will not come ends the attempt."""
        if self._ended or self._following is not None:
            return
        waiting = _waiting_reason(self._final_pod())
        if waiting.split(":")[0] in STUCK_REASONS:
            self._stuck = waiting
            self._stop("stuck")

    def confirm_gone(self) -> None:
        """A list lacked the Job: ask for it (a list may predate its creation), until the answer is sure."""
        delay = 0.5
        for _ in range(12):  # about 5 minutes; after that the next list asks again
            if self._ended:
                return
            try:
                self.launcher.batch.read_namespaced_job(self.name, self.namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT)
                return  # it is there: the watch will tell how it ends
            except Exception as error:
                if getattr(error, "status", None) == 404:
                    self.job_gone()
                    return
                log.debug("could not read Job %s: %s", self.name, describe_api_error(error))
            time.sleep(delay)
            delay = min(delay * 2, 30.0)

    # Ending.

    def _claim(self) -> bool:
        with self._lock:
            if self._ended:
                return False
            self._ended = True
        for timer in (self._timer, self._start_timer):
            if timer is not None:
                timer.cancel()
        return True

    def _end(self, outcome: AttemptOutcome) -> None:
        """End the attempt here (not from the watch): only if nothing else has ended it."""
        if self._claim():
            self._report(outcome)

    def _finish(self, condition: str | None, reason: str, message: str) -> None:
        """Work out how the claimed attempt ended (after job_ended or job_gone), and say so."""
        try:
            outcome = self._outcome(condition, reason, message)
        except Exception as error:  # whatever went wrong, the engine hears of the attempt
            outcome = AttemptOutcome(end="lost", message=f"the outcome of Job {self.name} could not be read: {error}")
        self._report(outcome)

    def _report(self, outcome: AttemptOutcome) -> None:
        self.launcher._forget(self.name)
        self.on_end(outcome)

    def _outcome(self, condition: str | None, reason: str, message: str) -> AttemptOutcome:
        result = self._result()
        needs_pod = condition == "Failed" or result is None or (self._pod is None and not self._log_complete)
        pod = self._final_pod() if condition is not None and needs_pod else None
        self._keep_log(pod)
        exit_code, pod_reason = exit_of(pod, CONTAINER)
        if condition == "Complete" and exit_code is None:
            exit_code = 0
        if condition == "Complete" and result is not None:  # it ended before the stop took: what it made is kept
            return AttemptOutcome.of_result(result, exit_code)
        if self.stop_reason == "cancelled":
            return AttemptOutcome.cancelled(exit_code)
        if self.stop_reason == "timed_out" or "DeadlineExceeded" in (reason, pod_reason):
            return AttemptOutcome.timed_out(self.timeout_seconds, exit_code)
        if self.stop_reason == "stuck":
            return AttemptOutcome(
                end="lost", kind=ErrorKind.LAUNCH_FAILED, message=f"the pod of Job {self.name} never started: {self._stuck}"
            )
        if result is not None:
            return AttemptOutcome.of_result(result, exit_code)
        if condition is None:
            return AttemptOutcome(end="lost", message=f"the Job {self.name} was deleted before it ended (by its TTL or by someone else)")
        waiting = _waiting_reason(pod)
        if waiting:
            return AttemptOutcome(end="lost", kind=ErrorKind.LAUNCH_FAILED, message=f"the pod of Job {self.name} never started: {waiting}")
        said = f" ({reason}: {message})" if reason or message else ""
        code = f" with status {exit_code}" if exit_code is not None else ""
        return AttemptOutcome(
            end="lost", exit_code=exit_code, message=f"the Job {self.name} failed{said}; its executor ended{code} and left no result"
        )

    def _result(self) -> TaskResult | None:
        local = Path(self.spec.result_path)
        try:
            self.launcher.stores(self.spec).download(self.result_uri, local)
            return decode_result(local.read_bytes())
        except Exception as error:  # no result stored (the pod never ran, or died): the outcome says what is known
            log.debug("no result for %s at %s: %s", self.name, self.result_uri, error)
            return None

    # Stopping.

    def _stop(self, reason: str, grace_seconds: int | None = None) -> None:
        with self._lock:
            if self._ended or (self.stop_reason is not None and grace_seconds is None):
                return  # a forced stop is sent even when a polite one is under way
            self.stop_reason = self.stop_reason or reason
        if self.created:
            self._delete(grace_seconds)

    def _delete(self, grace_seconds: int | None) -> None:
        """Delete the Job and its pods, retried while the API server fails; the watch's DELETED event then ends the attempt."""
        delay = 0.5
        while not self._ended:
            try:
                self.launcher.batch.delete_namespaced_job(
                    self.name,
                    self.namespace,
                    propagation_policy="Background",
                    grace_period_seconds=grace_seconds,
                    _preload_content=False,
                    _request_timeout=REQUEST_TIMEOUT,
                )
                return
            except Exception as error:
                if getattr(error, "status", None) == 404:
                    self.job_gone()
                    return
                if not is_retryable(error):
                    log.warning("could not delete Job %s: %s", self.name, describe_api_error(error))
                    return
                log.debug("could not delete Job %s yet: %s", self.name, describe_api_error(error))
            time.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _stopped_outcome(self) -> AttemptOutcome:
        if self.stop_reason == "timed_out":
            return AttemptOutcome.timed_out(self.timeout_seconds)
        return AttemptOutcome.cancelled()

    # The pod and its log.

    def _pods(self) -> list[dict[str, Any]]:
        answer = self.launcher.core.list_namespaced_pod(
            self.namespace, label_selector=f"job-name={self.name}", _preload_content=False, _request_timeout=REQUEST_TIMEOUT
        )
        return sorted(json.loads(answer.data).get("items") or [], key=lambda pod: pod["metadata"].get("creationTimestamp") or "")

    def _final_pod(self) -> dict[str, Any] | None:
        try:
            pods = self._pods()
        except Exception as error:
            log.debug("could not read the pods of %s: %s", self.name, describe_api_error(error))
            return None
        return pods[-1] if pods else None

    def _follow_log(self) -> None:
        from kubernetes.client.exceptions import ApiException

        waited = LOG_WAIT_SECONDS
        while not self._ended:
            try:
                if self._pod is None:
                    pods = self._pods()
                    if not pods:  # a ready Job has a pod; a list that lags behind is asked again, seldom
                        if waited > LOG_WAIT_SECONDS * 8:
                            return
                        time.sleep(waited)
                        waited *= 2
                        continue
                    self._pod = pods[-1]["metadata"]["name"]
                self._stream = self.launcher.core.read_namespaced_pod_log(
                    self._pod, self.namespace, container=CONTAINER, follow=True, _preload_content=False
                )
                with open(self.log_path, "ab") as log_file:
                    tee_lines(self._stream, log_file, self.launcher.echo, self.spec.task)
                self._log_complete = True
                return
            except ApiException as error:
                if error.status != 400 or waited > LOG_WAIT_SECONDS * 8:  # 400: the container has not started yet
                    log.debug("could not follow the log of %s: %s", self._pod, describe_api_error(error))
                    return
                time.sleep(waited)
                waited *= 2
            except Exception as error:  # the stream broke: the whole log is read again when the attempt ends
                log.debug("the log of %s broke off: %s", self._pod, error)
                return

    def _keep_log(self, pod: dict[str, Any] | None) -> None:
        """Make the task's log file hold the pod's whole log, then copy it to the artifact store, where it outlives the pod."""
        following = self._following
        if following is not None:
            following.join(timeout=5)
            if following.is_alive() and self._stream is not None:  # a pod still stopping: its log is read whole below
                self._stream.close()
                following.join(timeout=1)
            if following.is_alive():
                return  # still writing: leave the file to it rather than garble it
        pod_name = self._pod or (pod or {}).get("metadata", {}).get("name")
        if not self._log_complete and pod_name:
            try:
                text = self.launcher.core.read_namespaced_pod_log(
                    pod_name, self.namespace, container=CONTAINER, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
                ).data
            except Exception as error:
                log.debug("could not read the log of %s: %s", pod_name, describe_api_error(error))
            else:
                with open(self.log_path, "r+b" if self.log_path.exists() else "wb") as log_file:
                    log_file.seek(self._log_start)
                    log_file.truncate()
                    log_file.write(text)
        if not self.log_path.exists():
            return
        attempt_log = Path(self.spec.result_path).with_name("log.txt")
        try:
            with open(self.log_path, "rb") as whole, open(attempt_log, "wb") as own:
                whole.seek(self._log_start)
                own.write(whole.read())
            self.launcher.stores(self.spec).upload(attempt_log, f"{self.spec.output_root}/{LOG_NAME}")
        except Exception as error:  # the log stays in the task's folder; the attempt's outcome does not depend on it
            log.warning("could not copy the log of %s to the artifact store: %s", self.name, error)


def _waiting_reason(pod: dict[str, Any] | None) -> str:
    for container in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason") not in (None, "ContainerCreating"):
            return f"{waiting['reason']}: {waiting.get('message', '')}".rstrip(": ")
    return ""


def _timer(seconds: float, action: Callable[..., None], *arguments: Any) -> threading.Timer:
    timer = threading.Timer(seconds, action, arguments)
    timer.daemon = True
    timer.start()
    return timer
