"""The launcher of a run that a workflow engine (Argo, Tekton) schedules: submit the engine object, hand each pod its
ticket, and report each attempt's end from its pod (docs/explanation/workflow-engines.md).

Sluiceway's engine runs in this process as on every backend. `begin` submits the run's Workflow or PipelineRun;
`launch` writes the ticket of the attempt the engine launched (`<tickets root>/<instance>/<native try>.json`), and
`decided` what the engine decided without an attempt; the engine's pods wait for them (executor/ticket.py). One
watch on the run's pods tells each attempt when its pod ended (the outcome comes from the result the executor
stored, else from the pod); one watch on the engine object tells when it ended, so that an attempt whose pod never
came (the workflow engine did not start it) ends as `Lost` instead of waiting for ever.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import shlex
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import msgspec

from ...core import ir
from ...core.errors import SluicewayError
from ...core.ir import TaskSettings
from ...core.launcher import AttemptOutcome, RunContext, tee_lines
from ...core.lifecycle import ErrorKind
from ...core.stores import Stores
from ...core.task_spec import TaskResult, TaskSpec, decode_result, encode
from ...core.tickets import DECIDED, RUN_ENDED, Decision, cancelled_ticket_name, encode_decision, tickets_root, try_ticket_name
from .client import api_client, describe_api_error, is_retryable
from .credentials import delete_run_secret, make_run_secret, store_credentials
from .pods import RUN_LABEL, PodSettings, exit_of, hashed_name, label_value
from .watch import ResourceWatch

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = (10.0, 60.0)
CREATE_RETRY_SECONDS = 60.0
LOST_GRACE_SECONDS = 3.0
"""After the engine object ended, how long an attempt without an ended pod waits for the pod's news before it is Lost."""
CLOSE_WAIT_SECONDS = 60.0
"""At the run's end, how long the engine object gets to finish on its own (its last pods only end: they find the run
ended) before it is stopped."""
TIMEOUT_GRACE_SECONDS = 10.0
"""An attempt still running this long after its timeout, which the workflow engine should have enforced, is stopped here."""
STORE_TRIES = 4
ENGINE_DEADLINE_MARGIN_SECONDS = 60
"""Added to the run's deadline (TIME-3) where the engine object carries it: Sluiceway's engine stops the run at the
deadline itself, with the semantics' outcome (RunTimeout, no retry); the object's own deadline, later, only bounds a
run that is no longer followed."""
RESULT_NAME = ".sluiceway/result.json"


@dataclass(frozen=True)
class Submission:
    """What a run fills into its engine object: its name, its tickets root and stores, and its run settings."""

    run_id: str
    name: str
    tickets_root: str
    stores_json: str
    timeout_seconds: float | None = None
    exit_timeout_seconds: float = 600.0
    max_parallel: int | None = None


@dataclass(frozen=True)
class EngineKind:
    """What differs between workflow engines, for the launcher."""

    backend: str
    group: str
    version: str
    plural: str
    pod_label: str
    """The label that names a pod's engine object (`workflows.argoproj.io/workflow`, `tekton.dev/pipelineRun`)."""
    container: str
    """The pod's container that runs the executor."""
    render: Callable[[ir.Pipeline, PodSettings, Submission], dict[str, Any]]
    """The checked engine object of a run (a refusal raises SluicewayError)."""
    finished: Callable[[dict[str, Any]], bool]
    stop: Callable[[bool], dict[str, Any]]
    """The merge patch that stops the object: letting its exit handlers run, or (True) not."""
    timed_out: Callable[[WorkflowEngineLauncher, dict[str, Any]], bool] = lambda launcher, pod: False
    """Whether a pod that failed was stopped by its attempt's timeout, when the pod alone does not say so (TIME-1)."""


def linted(
    manifest: dict[str, Any], lint: Callable[[dict[str, Any]], list[str]], refusal: type[SluicewayError], what: str
) -> dict[str, Any]:
    """`manifest`, or `refusal` naming every rule of the engine's it breaks (a backend's lint.py): checked before it is
    written or submitted."""
    problems = lint(manifest)
    if problems:
        raise refusal(f"{what}: " + "; ".join(problems))
    return manifest


class WorkflowEngineLauncher:
    """A WorkflowLauncher (core/launcher.py) for one run; subclasses name their EngineKind."""

    kind: EngineKind

    def __init__(
        self,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        watch_timeout_seconds: int = 300,
        echo: IO[str] | None = None,
        venv_root: Path | None = None,
        client: Any = None,
        **pod_settings: Any,
    ) -> None:
        """Pod settings are the configuration's `backend` keys (PodSettings); `venv_root` is the local backend's."""
        for name in ("image_pull_secrets", "tolerations"):
            if name in pod_settings:
                pod_settings[name] = tuple(pod_settings[name])
        self.settings = PodSettings(**pod_settings)
        self.echo = echo
        self.watch_timeout_seconds = watch_timeout_seconds
        self._client = client if client is not None else api_client(kubeconfig, context)
        from kubernetes import client as k8s

        self.core = k8s.CoreV1Api(self._client)
        self.custom = k8s.CustomObjectsApi(self._client)
        self.name = ""
        self.tickets = ""
        self._stores: Stores | None = None
        self._tries: dict[str, int] = {}
        self._attempts: dict[tuple[str, int], WorkflowAttempt] = {}
        self._pods: dict[tuple[str, int], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sluiceway-{self.kind.backend}-tickets")
        self._ending = ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"sluiceway-{self.kind.backend}-outcomes")
        self._created = False
        self._watches: list[ResourceWatch] = []
        self._ended = threading.Event()
        self._made_secret: str | None = None
        self._folder = Path(tempfile.mkdtemp(prefix=f"sluiceway-{self.kind.backend}-"))

    # --- the run ------------------------------------------------------------------------------

    def begin(self, run: RunContext) -> None:
        self._stores = Stores(run.stores)
        if self.settings.credentials_secret is None:  # the pods read tickets and write results with these credentials
            values = store_credentials(run.artifact_root.partition("://")[0], self._stores)
            if values:
                self._made_secret = make_run_secret(self.core, self.settings.namespace, run.run_id, values)
                self.settings = replace(self.settings, credentials_secret=self._made_secret)
        self.name = self._free_name(run.run_id)
        # A nonce: a retried run's new object must not read an earlier one's tickets, even one whose name it reuses.
        self.tickets = tickets_root(run.artifact_root, run.run_id, f"{self.name}-{secrets.token_hex(4)}")
        submission = Submission(
            run_id=run.run_id,
            name=self.name,
            tickets_root=self.tickets,
            stores_json=msgspec.json.encode(run.stores).decode(),
            timeout_seconds=run.timeout_seconds,
            exit_timeout_seconds=run.exit_timeout_seconds,
            max_parallel=run.max_parallel,
        )
        body = self.kind.render(run.pipeline, self.settings, submission)
        self._create(body)
        self._created = True
        namespace = self.settings.namespace
        pods = ResourceWatch(
            self.core.list_namespaced_pod, "pods", namespace, f"{self.kind.pod_label}={self.name}", self._on_pod, self._on_pods
        )
        engine_object = ResourceWatch(
            self._list_objects, self.kind.plural, namespace, f"{RUN_LABEL}={label_value(run.run_id)}", self._on_object, self._on_objects
        )
        for watch in (pods, engine_object):
            watch.timeout_seconds = self.watch_timeout_seconds
            watch.start()
            self._watches.append(watch)

    def _free_name(self, run_id: str) -> str:
        """The engine object's name: the run id's, or with a generation after it when a retried run already has one."""
        answer = self._list_objects(self.settings.namespace, label_selector=f"{RUN_LABEL}={label_value(run_id)}", _preload_content=False)
        taken = {item["metadata"]["name"] for item in json.loads(answer.data).get("items") or []}
        generation = 1
        while (name := hashed_name(run_id if generation == 1 else f"{run_id}-{generation}")) in taken:
            generation += 1
        return name

    def _list_objects(self, namespace: str, **options: Any) -> Any:
        kind = self.kind
        return self.custom.list_namespaced_custom_object(kind.group, kind.version, namespace, kind.plural, **options)

    def _create(self, body: dict[str, Any]) -> None:
        kind, deadline, delay = self.kind, time.monotonic() + CREATE_RETRY_SECONDS, 0.5
        while True:
            try:
                self.custom.create_namespaced_custom_object(
                    kind.group, kind.version, self.settings.namespace, kind.plural, body, _request_timeout=REQUEST_TIMEOUT
                )
                return
            except Exception as error:
                if not is_retryable(error) or time.monotonic() > deadline:
                    raise SluicewayError(f"the {kind.backend} object {self.name} was not accepted: {describe_api_error(error)}") from None
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def cancel_run(self, *, force: bool = False) -> None:
        self._patch(self.kind.stop(force))

    def _patch(self, patch: dict[str, Any]) -> None:
        kind = self.kind
        for delay in (0.5, 1.0, 2.0, 4.0, 0.0):
            try:
                self.custom.patch_namespaced_custom_object(
                    kind.group,
                    kind.version,
                    self.settings.namespace,
                    kind.plural,
                    self.name,
                    patch,
                    _content_type="application/merge-patch+json",
                    _request_timeout=REQUEST_TIMEOUT,
                )
                return
            except Exception as error:
                if not is_retryable(error) or not delay:
                    log.warning("could not change %s %s: %s", kind.plural, self.name, describe_api_error(error))
                    return
                time.sleep(delay)

    def close(self) -> None:
        """The run has ended: pods still waiting for a ticket end (`_ended.json`), the engine object is given time to
        finish on its own, then stopped if it has not; the watches and the run's credentials Secret go."""
        if self._created:
            self._write(RUN_ENDED, encode_decision(Decision(state="ENDED", message="the run ended")))
            if not self._ended.wait(CLOSE_WAIT_SECONDS):
                log.warning("%s %s did not finish %g s after the run; stopping it", self.kind.plural[:-1], self.name, CLOSE_WAIT_SECONDS)
                self._patch(self.kind.stop(True))
        for watch in self._watches:
            watch.stop()
        self._writer.shutdown(wait=True)
        self._ending.shutdown(wait=False)
        if self._made_secret is not None:
            delete_run_secret(self.core, self.settings.namespace, self._made_secret)

    # --- tickets ------------------------------------------------------------------------------

    def launch(
        self,
        spec: TaskSpec,
        *,
        spec_path: Path,
        log_path: Path,
        timeout_seconds: float | None,
        on_end: Callable[[AttemptOutcome], None],
        settings: TaskSettings | None = None,
    ) -> WorkflowAttempt:
        """Write the ticket of the attempt the engine launched; its pod (started by the workflow engine) runs it. A ticket
        that cannot be stored raises SluicewayError (the attempt could not start: LaunchFailed, retried), and the native
        try it would have had stays free for the next one."""
        pod_spec = msgspec.structs.replace(spec, result_uri=f"{spec.output_root}/{RESULT_NAME}")
        with self._lock:
            native_try = self._tries.get(spec.task, 0)
            attempt = WorkflowAttempt(self, pod_spec, (spec.task, native_try), log_path, on_end, timeout_seconds)
        try:
            self._write(f"{spec.task}/{try_ticket_name(native_try)}", encode(pod_spec)).result()  # before the pod may need it
        except Exception as error:
            raise SluicewayError(f"could not store the ticket of {spec.task} attempt {spec.attempt}: {error}") from None
        with self._lock:
            self._tries[spec.task] = native_try + 1
            self._attempts[attempt.key] = attempt
            known = self._pods.get(attempt.key)
        if self._ended.is_set():  # the engine object starts no pod any more
            attempt.lost(f"the {self.kind.backend} {self.kind.plural[:-1]} {self.name} had ended before this attempt was launched")
        elif known is not None:
            attempt.pod_changed("MODIFIED", known)
        attempt.start_timer()
        return attempt

    def decided(self, instance: str, decision: Decision) -> None:
        self._write(f"{instance}/{DECIDED}", encode_decision(decision))

    def _write(self, name: str, data: bytes) -> Any:
        """Store a ticket, in the order asked (a decision may be replaced by a later one), trying again a few times."""

        def store() -> None:
            local = self._folder / "ticket.json"
            local.write_bytes(data)
            for tries_left in reversed(range(STORE_TRIES)):
                try:
                    self.stores.upload(local, f"{self.tickets}/{name}")
                    return
                except Exception as error:
                    if not tries_left:
                        log.warning("could not store the ticket %s: %s", name, error)
                        raise
                    time.sleep(0.5 * (STORE_TRIES - tries_left))

        return self._writer.submit(store)

    @property
    def stores(self) -> Stores:
        assert self._stores is not None, "the run has not begun"
        return self._stores

    # --- news -----------------------------------------------------------------------------------

    def _on_pods(self, pods: list[dict[str, Any]]) -> None:
        seen = set()
        for pod in pods:
            key = self._key_of(pod)
            if key is not None:
                seen.add(key)
                self._on_pod("MODIFIED", pod)
        with self._lock:
            missing = [attempt for key, attempt in self._attempts.items() if key in self._pods and key not in seen]
        for attempt in missing:  # deleted while no watch was open
            attempt.pod_changed("DELETED", self._pods[attempt.key])

    def _on_pod(self, kind: str, pod: dict[str, Any]) -> None:
        key = self._key_of(pod)
        if key is None:
            return
        with self._lock:
            self._pods[key] = pod
            attempt = self._attempts.get(key)
        if attempt is not None:
            attempt.pod_changed(kind, pod)

    def _key_of(self, pod: dict[str, Any]) -> tuple[str, int] | None:
        """(instance, native try) of a pod of this run, from the executor's command line as the engine substituted it."""
        for container in pod.get("spec", {}).get("containers") or []:
            words = [*(container.get("command") or []), *(container.get("args") or [])]
            script = next((word for word in words if "--ticket" in word and word != "--ticket"), None)
            if script is not None:  # `sh -c '... exec python -m sluiceway.executor --ticket ...'` (packages installed first)
                words = shlex.split(script)
            options = dict(itertools.pairwise(words))
            if options.get("--ticket") == self.tickets and options.get("--retry", "").isdigit() and "--instance" in options:
                return options["--instance"], int(options["--retry"])
        return None

    def _on_objects(self, objects: list[dict[str, Any]]) -> None:
        for obj in objects:
            self._on_object("MODIFIED", obj)
        if self.name and not any(obj["metadata"]["name"] == self.name for obj in objects):
            self._object_ended("it was deleted")

    def _on_object(self, kind: str, obj: dict[str, Any]) -> None:
        if obj.get("metadata", {}).get("name") != self.name:
            return
        if kind == "DELETED":
            self._object_ended("it was deleted")
        elif self.kind.finished(obj):
            self._object_ended("it finished")

    def _object_ended(self, how: str) -> None:
        """The engine object will start no pod any more: attempts still without an ended pod are Lost, after a grace
        period for the pods' last news."""
        if self._ended.is_set():
            return
        self._ended.set()

        def end_the_rest() -> None:
            with self._lock:
                waiting = [attempt for attempt in self._attempts.values() if not attempt.ended]
            for attempt in waiting:
                what = "before this attempt's pod did" if attempt.pod_name else "without creating this attempt's pod"
                attempt.lost(
                    f"the {self.kind.backend} {self.kind.plural[:-1]} {self.name} ended ({how}) {what}", began=bool(attempt.pod_name)
                )

        timer = threading.Timer(LOST_GRACE_SECONDS, end_the_rest)
        timer.daemon = True
        timer.start()


class WorkflowAttempt:
    """One attempt the engine launched, ended (exactly once) by its pod's end, its cancellation, its timeout, or the
    engine object's end."""

    def __init__(
        self,
        launcher: WorkflowEngineLauncher,
        spec: TaskSpec,
        key: tuple[str, int],
        log_path: Path,
        on_end: Callable[[AttemptOutcome], None],
        timeout_seconds: float | None,
    ) -> None:
        self.launcher = launcher
        self.spec = spec
        self.key = key
        self.log_path = log_path
        self.on_end = on_end
        self.timeout_seconds = timeout_seconds
        self.ended = False
        self.stop_reason: str | None = None
        self.pod_name: str | None = None
        self._following: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def start_timer(self) -> None:
        """A backstop for the attempt's timeout (TIME-1): the workflow engine enforces it on the pod, except where
        Sluiceway must (a Tekton task that may wait for its loop's slot has none of its own)."""
        if self.timeout_seconds is not None and not self.ended:
            self._timer = threading.Timer(self.timeout_seconds + TIMEOUT_GRACE_SECONDS, self._stop, ("timed_out",))
            self._timer.daemon = True
            self._timer.start()

    def cancel(self, *, force: bool = False) -> None:
        """Stop the attempt: its pod is deleted (the executor gets SIGTERM, the grace period, SIGKILL); a pod not started
        yet finds, besides its ticket, that the attempt was cancelled."""
        self._stop("cancelled", force)

    def _stop(self, reason: str, force: bool = False) -> None:
        launcher = self.launcher
        with self._lock:
            if self.ended:
                return
            self.stop_reason = self.stop_reason or reason
            pod_name = self.pod_name
        if pod_name is None:
            marker = Decision(state="CANCELLED", message=f"the attempt was stopped ({reason}) before its pod started")
            launcher._write(f"{self.key[0]}/{cancelled_ticket_name(self.key[1])}", encode_decision(marker))
            self._end(self._stopped_outcome())
            return
        try:
            launcher.core.delete_namespaced_pod(
                pod_name, launcher.settings.namespace, grace_period_seconds=0 if force else None, _request_timeout=REQUEST_TIMEOUT
            )
        except Exception as error:
            if getattr(error, "status", None) == 404:
                self._end(self._stopped_outcome())
            else:
                log.warning("could not delete pod %s: %s", pod_name, describe_api_error(error))

    def pod_changed(self, kind: str, pod: dict[str, Any]) -> None:
        """News of the attempt's pod, from the watch's thread: the outcome is worked out on another (it reads the store)."""
        phase = (pod.get("status") or {}).get("phase")
        with self._lock:
            self.pod_name = pod["metadata"]["name"]
            if phase == "Running" and self._following is None and not self.ended:
                # Started under the lock: news of the same pod comes from the watch and from `launch` at once, and
                # `_end` joins this thread, which it cannot do before the thread has started.
                self._following = threading.Thread(target=self._follow_log, name=f"log-{self.pod_name}", daemon=True)
                self._following.start()
        if phase in ("Succeeded", "Failed") or kind == "DELETED":
            gone = phase not in ("Succeeded", "Failed")
            self.launcher._ending.submit(self._end_with_outcome, pod, gone)

    def _end_with_outcome(self, pod: dict[str, Any], gone: bool) -> None:
        """On an outcome thread: an error working out the outcome ends the attempt Lost, saying so; an exception there
        would otherwise vanish into the thread pool, and the engine wait for ever for an attempt already over."""
        try:
            outcome = self._outcome(pod, gone=gone)
        except Exception as error:
            log.warning("could not work out how %s ended: %s", self.pod_name, error, exc_info=True)
            outcome = AttemptOutcome(end="lost", message=f"the pod {self.pod_name} ended, and its outcome could not be read: {error}")
        self._end(outcome)

    def lost(self, message: str, *, began: bool = True) -> None:
        self._end(AttemptOutcome(end="lost", kind=ErrorKind.LOST, message=message, began=began))

    def _end(self, outcome: AttemptOutcome) -> None:
        with self._lock:
            if self.ended:
                return
            self.ended = True
            following, timer = self._following, self._timer
        if timer is not None:
            timer.cancel()
        if following is not None and following is not threading.current_thread():
            following.join(timeout=5)  # the log's last lines, before the engine hears the attempt ended
        self.on_end(outcome)

    def _stopped_outcome(self, exit_code: int | None = None) -> AttemptOutcome:
        if self.stop_reason == "timed_out":
            return AttemptOutcome.timed_out(self.timeout_seconds, exit_code)
        return AttemptOutcome.cancelled(exit_code)

    def _outcome(self, pod: dict[str, Any], gone: bool = False) -> AttemptOutcome:
        exit_code, reason = exit_of(pod, self.launcher.kind.container)
        result = self._result()
        if result is not None:  # committed (CACHE-7): it counts, whatever stopped the pod afterwards (RETRY-5)
            return AttemptOutcome.of_result(result, exit_code)
        if reason == "DeadlineExceeded" or self.launcher.kind.timed_out(self.launcher, pod):
            return AttemptOutcome.timed_out(self.timeout_seconds, exit_code)
        if self.stop_reason:
            return self._stopped_outcome(exit_code)
        what = "was deleted" if gone else f"ended ({reason or 'exit code ' + str(exit_code)})"
        return AttemptOutcome(end="lost", exit_code=exit_code, message=f"the pod {self.pod_name} {what} and its executor left no result")

    def _result(self) -> TaskResult | None:
        """The executor's stored result; None when there is none (asked again a few times while the store fails)."""
        uri = str(self.spec.result_uri)
        local = self.launcher._folder / f"{secrets.token_hex(8)}.result.json"
        for tries_left in reversed(range(STORE_TRIES)):
            try:
                stores = self.launcher.stores
                if not stores.for_uri(uri).exists(uri):
                    return None
                stores.download(uri, local)
                return decode_result(local.read_bytes())
            except Exception as error:  # the store failed: asked again, then the outcome says what the pod says
                log.debug("could not read the result of %s at %s: %s", self.key, uri, error)
                if tries_left:
                    time.sleep(0.5 * (STORE_TRIES - tries_left))
        return None

    def _follow_log(self) -> None:
        launcher = self.launcher
        try:
            stream = launcher.core.read_namespaced_pod_log(
                self.pod_name, launcher.settings.namespace, container=launcher.kind.container, follow=True, _preload_content=False
            )
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "ab") as log_file:
                tee_lines(stream, log_file, launcher.echo, self.spec.task)
        except Exception as error:  # the log is the task's, not its outcome: said, not raised
            log.debug("could not follow the log of %s: %s", self.pod_name, describe_api_error(error))
