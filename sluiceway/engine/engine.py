"""The DAG scheduler: runs a pipeline's graph through a launcher, by the rules of docs/explanation/semantics.md.

All state changes happen on the engine's own thread. Launchers report attempt outcomes
from their threads by posting events; retries wait on timers of the same loop. Every state
change goes through the transition table in core/lifecycle.py.
"""

from __future__ import annotations

import json
import queue
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import msgspec

from ..core import ir, types
from ..core.errors import SluicewayError, Unsupported
from ..core.launcher import AttemptOutcome, AttemptRecord, Launcher, RunContext, WorkflowLauncher
from ..core.lifecycle import RUN_TRANSITIONS, TASK_TRANSITIONS, ErrorKind, RunState, SkipReason, TaskState
from ..core.stores import CacheStore, Stores
from ..core.task_spec import ArtifactRef, FinalStatus, InputBinding, StoreRef, TaskSpec, encode
from ..core.tickets import BRANCH_OUTPUT, DRIVER_OUTPUTS, EMPTY_OUTPUT, ITERATIONS_OUTPUT, Decision
from .caching import cache_key, cache_parts
from .conditions import ConditionError, compare
from .frames import Frame, Instance

T = TaskState

DEFAULT_MAX_INSTANCES = 10_000
"""L of LOOP-5: the most instances one IR node may have in a run."""
DEFAULT_EXIT_TIMEOUT_SECONDS = 600.0
"""The exit tasks' budget after the main phase (TIME-4), unless the run says otherwise."""


class Observer(Protocol):
    def run_changed(self, run_id: str, state: RunState, error_kind: ErrorKind | None, message: str) -> None:
        """The run's state changed; a FAILED run says why."""

    def task_changed(self, run_id: str, instance: Instance) -> None: ...


class _Skip(Exception):
    def __init__(self, reason: SkipReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class _Broken(Exception):
    """A node cannot run: its items are not a list, a comparison cannot be made, ..."""

    def __init__(self, message: str, kind: ErrorKind = ErrorKind.RESOLUTION_ERROR) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class EarlierTask:
    """A task as a run left it, for retrying the run."""

    state: TaskState
    attempts: int
    outputs: dict[str, InputBinding]


@dataclass
class RunReport:
    run_id: str
    state: RunState
    tasks: dict[str, Instance]
    outputs: dict[str, InputBinding] = field(default_factory=dict)
    error_kind: ErrorKind | None = None
    message: str = ""
    """Why the run failed (ST-10), when it did."""
    refused: str | None = None
    """Why the backend refused the run (core.errors.Unsupported), when it did: then no task ran and the run FAILED."""


class Engine:
    """Runs one pipeline run to its end. Create one per run."""

    def __init__(
        self,
        pipeline: ir.Pipeline,
        *,
        run_id: str,
        launcher: Launcher,
        arguments: dict[str, Any] | None = None,
        run_dir: Path,
        artifact_root: str,
        stores: dict[str, StoreRef | str] | None = None,
        max_parallel: int = 4,
        observers: Sequence[Observer] = (),
        cache: CacheStore | None = None,
        earlier: dict[str, EarlierTask] | None = None,
        timeout_seconds: float | None = None,
        exit_timeout_seconds: float = DEFAULT_EXIT_TIMEOUT_SECONDS,
        max_instances: int = DEFAULT_MAX_INSTANCES,
    ) -> None:
        self.pipeline = pipeline
        self.run_id = run_id
        self.launcher = launcher
        self.workflow = launcher if isinstance(launcher, WorkflowLauncher) else None
        """The launcher, when a workflow engine starts the pods and must hear every decision (core/tickets.py)."""
        self._submitted = self.workflow is None
        self.run_dir = run_dir
        self.artifact_root = artifact_root.rstrip("/")
        self.stores_by_scheme = stores or {}
        self.stores = Stores(self.stores_by_scheme)
        self.max_parallel = max(1, max_parallel)
        """The most attempts at once. On a workflow engine it is the engine's to enforce (its pods wait for tickets: a
        second limit here could hold the tickets the engine's running pods wait for), so it only reaches the engine."""
        self.observers = tuple(observers)
        self.cache = cache
        """Step caching; None turns it off for the whole run."""
        self.earlier = earlier or {}
        """When retrying a run: what its tasks did before, by instance id."""
        self.timeout_seconds = timeout_seconds
        """The run's deadline for its non-exit tasks (TIME-3); None: no deadline."""
        self.exit_timeout_seconds = exit_timeout_seconds
        """The exit tasks' budget after the main phase (TIME-4); 0: none."""
        self.max_instances = max_instances
        self._loop_instances: dict[int, int] = {}
        """How many instances loops have given each IR node so far (by id of the node), for LOOP-5."""
        self.state = RunState.PENDING
        self.stopping = False
        self.cancelling = False
        self.deadline_passed = False
        self.exit_budget_spent = False
        self.abandoning = False
        self.error_kind: ErrorKind | None = None
        self.message = ""
        self.refused: str | None = None
        """Why the run failed, once it has."""
        self._events: queue.Queue[Callable[[], None]] = queue.Queue()
        self._timers: list[tuple[float, Callable[[], None]]] = []
        self._running_attempts = 0
        # Work is driven by wake-ups, so that scheduling costs the same per task however large the run.
        self._queue: deque[Instance] = deque()
        self._queued: set[Instance] = set()
        self._waiting_for_slot: deque[Instance] = deque()
        self._unfinished = 0
        self._unfinished_main = 0
        """Unfinished instances that are not exit tasks: the main phase ends when none is left."""
        parameters = self._pipeline_parameters(arguments or {})
        types_of = {spec.name: spec.type for spec in pipeline.parameters}
        self.root = self._frame(prefix="", nodes=pipeline.nodes, parent=None, parameters=parameters, parameter_types=types_of)

    # --- public -------------------------------------------------------------------------------

    def run(self) -> RunReport:
        try:
            return self._run()
        finally:
            self.launcher.close()

    def _run(self) -> RunReport:
        if self.workflow is not None and not self._submit(self.workflow):
            return RunReport(self.run_id, self.state, {}, {}, self.error_kind, self.message, refused=self.refused)
        self._set_run(RunState.RUNNING)
        if self.timeout_seconds is not None:
            self._timers.append((time.monotonic() + self.timeout_seconds, self._deadline_passes))
        if self._unfinished_main == 0:
            self._main_phase_ended()
        while True:
            self._advance()
            if self._running_attempts == 0 and self._unfinished == 0:
                break
            if self._running_attempts == 0 and not self._timers and self._events.empty():
                stuck = [i.id for i in self.root.walk() if not i.done]
                raise AssertionError(f"the engine has nothing to wait for, yet these are unfinished: {stuck}")
            self._wait_for_event()
        if self.cancelling:
            self._set_run(RunState.CANCELLED)
        elif self.deadline_passed:
            self.error_kind, self.message = ErrorKind.RUN_TIMEOUT, f"the run's deadline of {self.timeout_seconds:g} s passed"
            self._set_run(RunState.FAILED)
        else:
            failed = next((i for i in self.root.walk() if i.state == T.FAILED and not i.frames), None)
            failed = failed or next((i for i in self.root.walk() if i.state == T.FAILED), None)
            if failed is not None:
                self.error_kind, self.message = failed.error_kind, f"task '{failed.id}' failed: {failed.message}"
            self._set_run(RunState.FAILED if failed else RunState.SUCCEEDED)
        tasks = {i.id: i for i in self.root.walk()}
        return RunReport(self.run_id, self.state, tasks, self._pipeline_outputs(), self.error_kind, self.message)

    def _submit(self, workflow: WorkflowLauncher) -> bool:
        """Hand the run to the workflow engine; False if it refused it (the run is then FAILED: `refuse`, ST-2)."""
        try:
            workflow.begin(
                RunContext(
                    run_id=self.run_id,
                    pipeline=self.pipeline,
                    artifact_root=self.artifact_root,
                    stores=self.stores_by_scheme,
                    timeout_seconds=self.timeout_seconds,
                    exit_timeout_seconds=self.exit_timeout_seconds,
                    max_parallel=self.max_parallel,
                )
            )
        except SluicewayError as error:
            self.error_kind, self.message = ErrorKind.LAUNCH_FAILED, f"the workflow engine refused the run: {error}"
            if isinstance(error, Unsupported):
                self.refused = str(error)
            self._set_run(RunState.FAILED)
            return False
        self._submitted = True
        for instance in self.root.walk():  # kept from before a retry: the new engine object's pods for them just end
            if instance.done:
                self._tell_workflow(workflow, instance)
        return True

    def _pipeline_outputs(self) -> dict[str, InputBinding]:
        """The pipeline's outputs whose producers produced them."""
        outputs = {}
        for name, ref in self.pipeline.output_bindings.items():
            try:
                outputs[name] = self._output_of(self.root.instances[ref.task], ref.output)
            except _Skip:
                continue
        return outputs

    def cancel(self) -> None:
        """Ask the run to stop: no new tasks, running ones are stopped, exit tasks still run. Thread-safe."""
        self._events.put(self._begin_cancel)

    def abandon(self) -> None:
        """Cancel without waiting: every attempt, exit tasks' included, is killed at once, and no exit task starts. Thread-safe."""
        self._events.put(self._abandon)

    def _frame(self, group: Instance | None = None, **fields: Any) -> Frame:
        """A new frame, run by `group`; when retrying, tasks that succeeded before keep their outputs."""
        frame = Frame(group=group, **fields)
        for instance in frame.instances.values():
            before = self.earlier.get(instance.id)
            if before is None or not isinstance(instance.node, (ir.Task, ir.Importer)):
                continue
            if before.state in (T.SUCCEEDED, T.CACHED) and not (isinstance(instance.node, ir.Task) and self._is_graph(instance.node)):
                instance.state, instance.outputs, instance.attempts = before.state, dict(before.outputs), before.attempts
                instance.message = "kept from before the retry"
            else:
                instance.attempts = instance.retry_base = before.attempts  # attempt numbers go on; retries start afresh
        if self.workflow is not None and self._submitted:  # kept from before a retry, in a group opening now
            for kept in (instance for instance in frame.instances.values() if instance.done):
                self._tell_workflow(self.workflow, kept)
        frame.remaining = sum(1 for instance in frame.instances.values() if not instance.done)
        self._unfinished += frame.remaining
        if not frame.exempt():
            self._unfinished_main += frame.remaining
        if group is not None:
            if frame.remaining:
                group.open_frames += 1
            else:
                self._wake(group)
        for instance in frame.instances.values():
            if not instance.done:
                self._wake(instance)
        return frame

    def _wake(self, instance: Instance) -> None:
        if instance not in self._queued:
            self._queued.add(instance)
            self._queue.append(instance)

    def _is_graph(self, task: ir.Task) -> bool:
        return isinstance(self.pipeline.components[task.component].implementation, ir.Graph)

    # --- the loop -----------------------------------------------------------------------------

    def _wait_for_event(self) -> None:
        timeout = None
        if self._timers:
            timeout = max(0.0, min(due for due, _ in self._timers) - time.monotonic())
        try:
            event = self._events.get(timeout=timeout)
        except queue.Empty:
            event = None
        if event is not None:
            event()
        now = time.monotonic()
        due = [action for when, action in self._timers if when <= now]
        self._timers = [(when, action) for when, action in self._timers if when > now]
        for action in due:
            action()

    def _advance(self) -> None:
        """Decide every woken instance: start it, skip it, or settle its group."""
        while self._queue:
            instance = self._queue.popleft()
            self._queued.discard(instance)
            self._step(instance)

    def _step(self, instance: Instance) -> bool:
        if instance.state == T.PENDING:
            return self._try_start(instance)
        if instance.state == T.RUNNING and instance.attempt is None:
            return self._settle_group(instance)
        return False

    # --- starting -----------------------------------------------------------------------------

    def _try_start(self, instance: Instance) -> bool:
        frame = instance.frame
        exempt = frame.exempt()
        if self.cancelling and (not exempt or self.abandoning):
            self._set_task(instance, T.CANCELLED, message="the run was cancelled")
            return True
        if self.exit_budget_spent:
            self._set_task(instance, T.SKIPPED, SkipReason.RUN_STOPPING, "the exit tasks' budget ran out")
            return True
        edges = frame.level.waits_for[instance.node.name]
        upstream = {name: frame.instances[name] for name in edges}
        if not all(up.done for up in upstream.values()):
            return False
        if self._decided_by_upstream(instance, upstream, edges, exempt):
            return True
        node = instance.node
        try:
            if isinstance(node, ir.Task):
                return self._start_task(instance, node)
            if isinstance(node, ir.Importer):
                uri = self._value(self._resolve(frame, node.uri))
                ref = _imported_artifact(uri, node.artifact_type, node.metadata)
                instance.outputs = {"artifact": InputBinding(artifacts=(ref,))}
                self._set_task(instance, T.RUNNING)
                self._set_task(instance, T.SUCCEEDED)
            elif isinstance(node, ir.Condition):
                self._start_condition(instance, node)
            elif isinstance(node, ir.Loop):
                self._start_loop(instance, node)
            elif isinstance(node, ir.ExitHandler):
                instance.frames.append(
                    self._frame(group=instance, prefix=frame.prefix, nodes=node.nodes, parent=frame, loop_items=frame.loop_items)
                )
                self._set_task(instance, T.RUNNING)
        except _Skip as skip:
            self._set_task(instance, T.SKIPPED, skip.reason, str(skip))
        except _Broken as broken:
            self._set_task(instance, T.RUNNING)
            self._fail(instance, str(broken), broken.kind)
        return True

    def _decided_by_upstream(self, instance: Instance, upstream: dict[str, Instance], edges: dict[str, str], exempt: bool) -> bool:
        """DEP-4: cancel or skip a node whose upstream nodes say so; False if it may start."""
        outcomes = [_edge_outcome(up, edges[name]) for name, up in upstream.items()]
        if any(outcome is T.CANCELLED for outcome in outcomes):
            self._set_task(instance, T.CANCELLED, message="an upstream task was cancelled")
            return True
        failed = next((up for up, outcome in zip(upstream.values(), outcomes, strict=True) if outcome is SkipReason.UPSTREAM_FAILED), None)
        if failed is not None and not exempt:
            why = f"'{failed.id}' failed" if failed.state == T.FAILED else f"'{failed.id}' did not run because a task before it failed"
            self._set_task(instance, T.SKIPPED, SkipReason.UPSTREAM_FAILED, why)
            return True
        if self.stopping and not exempt:
            why = "the run's deadline passed" if self.deadline_passed else "the run is stopping after a failure"
            self._set_task(instance, T.SKIPPED, SkipReason.RUN_STOPPING, why)
            return True
        for reason in (SkipReason.RUN_STOPPING, SkipReason.UPSTREAM_SKIPPED):
            cause = next((up for up, outcome in zip(upstream.values(), outcomes, strict=True) if outcome is reason), None)
            if cause is not None and not (exempt and edges[cause.node.name] == "order"):
                self._set_task(instance, T.SKIPPED, reason, f"'{cause.id}' was skipped")
                return True
        return False

    def _start_task(self, instance: Instance, task: ir.Task) -> bool:
        component = self.pipeline.components[task.component]
        arguments = {name: self._resolve(instance.frame, argument) for name, argument in task.arguments.items()}
        if isinstance(component.implementation, ir.Graph):
            graph = component.implementation
            parameters = {spec.name: arguments.get(spec.name, InputBinding(value=spec.default)) for spec in component.inputs}
            types_of = {spec.name: spec.type for spec in component.inputs}
            instance.frames.append(
                self._frame(
                    group=instance,
                    prefix=f"{instance.id}/",
                    nodes=graph.nodes,
                    parent=None,
                    parameters=parameters,
                    parameter_types=types_of,
                )
            )
            self._set_task(instance, T.RUNNING)
            return True
        if not instance.cache_checked:
            instance.cache_checked = True
            if self._reuse_cached(instance, task, component, arguments):
                return True
        if self._running_attempts >= self.max_parallel and self.workflow is None:
            self._waiting_for_slot.append(instance)  # woken when an attempt ends
            return False
        instance.outputs = {}
        instance.message = ""
        instance.inputs = arguments
        self._launch(instance)
        return True

    def _reuse_cached(self, instance: Instance, task: ir.Task, component: ir.Component, arguments: dict[str, InputBinding]) -> bool:
        """Look the task up in the cache once, before its first attempt (CACHE-3); True on a hit."""
        instance.cache_parts = cache_parts(component, arguments, task.settings, self._value, self._final_status(instance))
        if self.cache is None or not task.settings.caching.enabled:
            return False
        instance.cache_key = cache_key(instance.cache_parts)
        hit = self.cache.find_cache_entry(instance.cache_key, task.settings.caching.max_staleness_seconds)
        if hit is None:
            return False
        run_id, task_id, outputs = hit
        if not all(self.stores.for_uri(ref.uri).exists(ref.uri) for binding in outputs.values() for ref in binding.artifacts):
            return False  # an artifact of the entry is gone (CACHE-2)
        instance.outputs = outputs
        instance.inputs = arguments
        self._set_task(instance, T.CACHED, message=f"reused the outputs of {run_id}/{task_id}")
        return True

    def _start_condition(self, instance: Instance, condition: ir.Condition) -> None:
        frame = instance.frame
        chosen = None
        for index, branch in enumerate(condition.branches):
            if branch.when is None or self._holds(frame, branch.when):
                chosen = index
                break
        for index, branch in enumerate(condition.branches):
            child = self._frame(group=instance, prefix=frame.prefix, nodes=branch.nodes, parent=frame, loop_items=frame.loop_items)
            instance.frames.append(child)
            if index != chosen:
                for skipped in child.instances.values():
                    self._set_task(skipped, T.SKIPPED, SkipReason.CONDITION, f"condition '{condition.name}' chose another branch")
        instance.driver_outputs = {BRANCH_OUTPUT: "none" if chosen is None else str(chosen)}
        if chosen is None:  # CND-2
            self._set_task(instance, T.SKIPPED, SkipReason.CONDITION, f"no branch of condition '{condition.name}' holds")
        else:
            self._set_task(instance, T.RUNNING)

    def _start_loop(self, instance: Instance, loop: ir.Loop) -> None:
        items = self._value(self._resolve(instance.frame, loop.items))
        if not isinstance(items, list):
            raise _Broken(f"ParallelFor '{loop.name}' needs a list, got {type(items).__name__}")
        if not items:
            raise _Skip(SkipReason.EMPTY_LOOP, f"ParallelFor '{loop.name}' has no items")  # the driver's outputs by default
        for node in loop.nodes:  # LOOP-5, before any iteration opens
            total = self._loop_instances.get(id(node), 0) + len(items)
            if total > self.max_instances:
                raise _Broken(
                    f"ParallelFor '{loop.name}' over {len(items)} items would give '{node.name}' {total} instances in this run;"
                    f" at most {self.max_instances} are allowed (LOOP-5)"
                )
        for node in loop.nodes:
            self._loop_instances[id(node)] = self._loop_instances.get(id(node), 0) + len(items)
        instance.pending_items = list(enumerate(items))
        instance.driver_outputs = {ITERATIONS_OUTPUT: json.dumps([str(index) for index in range(len(items))]), EMPTY_OUTPUT: "false"}
        self._set_task(instance, T.RUNNING)
        self._open_iterations(instance, loop)

    def _open_iterations(self, instance: Instance, loop: ir.Loop) -> None:
        while instance.pending_items and (loop.parallelism == 0 or instance.open_frames < loop.parallelism):
            if self.stopping or self.cancelling:
                instance.pending_items.clear()
                return
            index, item = instance.pending_items.pop(0)
            frame = instance.frame
            instance.frames.append(
                self._frame(
                    group=instance,
                    prefix=f"{instance.id}/{index}/",
                    nodes=loop.nodes,
                    parent=frame,
                    loop_items={**frame.loop_items, loop.name: item},
                )
            )

    # --- attempts -----------------------------------------------------------------------------

    def _launch(self, instance: Instance) -> None:
        task = instance.node
        assert isinstance(task, ir.Task)
        instance.attempts += 1
        instance.last_attempt = AttemptRecord(number=instance.attempts, started_at=time.time())
        self._set_task(instance, T.RUNNING)
        attempt = instance.attempts
        folder = self.run_dir / "tasks" / instance.id / str(attempt)
        folder.mkdir(parents=True, exist_ok=True)
        spec = TaskSpec(
            run_id=self.run_id,
            task=instance.id,
            attempt=attempt,
            component=self.pipeline.components[task.component],
            inputs=instance.inputs,
            output_root=f"{self.artifact_root}/{self.run_id}/{instance.id}/{attempt}",
            stores=self.stores_by_scheme,
            work_dir=str(folder / "work"),
            result_path=str(folder / "result.json"),
            final_status=self._final_status(instance),
            env=dict(task.settings.env),
        )
        spec_path = folder / "spec.json"
        self._running_attempts += 1
        try:
            spec_path.write_bytes(encode(spec))
            instance.attempt = self.launcher.launch(
                spec,
                spec_path=spec_path,
                log_path=self.run_dir / "logs" / f"{instance.id}.log",
                timeout_seconds=task.settings.timeout_seconds,
                on_end=lambda outcome: self._events.put(lambda: self._attempt_ended(instance, outcome)),
                settings=task.settings,
            )
        except (OSError, SluicewayError) as error:  # a failed attempt like any other (LaunchFailed), so it is retried
            failure = AttemptOutcome(end="lost", kind=ErrorKind.LAUNCH_FAILED, message=f"the attempt could not start: {error}")
            self._attempt_ended(instance, failure)

    def _attempt_ended(self, instance: Instance, outcome: AttemptOutcome) -> None:
        self._running_attempts -= 1
        instance.attempt = None
        kind = outcome.error_kind
        if instance.last_attempt is not None:
            instance.last_attempt = msgspec.structs.replace(
                instance.last_attempt,
                ended_at=time.time(),
                end=outcome.end,
                exit_code=outcome.exit_code,
                error_kind=kind,
                message=outcome.message,
            )
        while self._waiting_for_slot:  # a slot is free: the first task still waiting for one takes it
            waiting = self._waiting_for_slot.popleft()
            if waiting.state == T.PENDING:
                self._wake(waiting)
                break
        task = instance.node
        assert isinstance(task, ir.Task)
        if outcome.succeeded:
            assert outcome.result is not None
            result = outcome.result
            instance.message = ""  # an earlier attempt's failure is no longer the story
            instance.outputs = {
                **{name: InputBinding(value=value) for name, value in result.values.items()},
                **{name: InputBinding(value_uri=uri) for name, uri in result.spilled_values.items()},
                **{name: InputBinding(artifacts=(ref,)) for name, ref in result.artifacts.items()},
            }
            self._set_task(instance, T.SUCCEEDED)
            if self.cache is not None and instance.cache_key is not None:
                # After the outputs are recorded (CACHE-4): the recorder wrote them with SUCCEEDED.
                self.cache.write_cache_entry(instance.cache_key, self.run_id, instance.id, instance.outputs)
            return
        instance.timed_out = outcome.end == "timed_out"
        if not outcome.began and self.stopping and instance.attempts == instance.retry_base + 1 and not instance.frame.exempt():
            # FAIL-2: the run was stopping and the backend never ran the attempt (ST-5: no pod was created, so it never really started).
            instance.attempts -= 1
            self._set_task(instance, T.SKIPPED, SkipReason.RUN_STOPPING, "the run was stopping before the backend began the task")
            return
        if instance.stopped_by is not None:  # the run's deadline or the exit budget stopped it: no retry (RETRY-2)
            why = instance.stopped_by
            self._fail(instance, self.message_for(why), why)
            return
        if outcome.end == "cancelled":
            self._set_task(instance, T.CANCELLED, message=outcome.message)
            return
        retry = task.settings.retry
        if retry is not None and instance.attempts - instance.retry_base <= retry.max_retries and not self.cancelling:
            wait = min(
                retry.backoff_seconds * retry.backoff_factor ** (instance.attempts - instance.retry_base - 1), retry.backoff_max_seconds
            )
            instance.message = outcome.message
            self._set_task(instance, T.RETRYING, message=f"attempt {instance.attempts} failed: {outcome.message}")
            self._timers.append((time.monotonic() + wait, lambda: self._launch(instance) if instance.state == T.RETRYING else None))
            return
        self._fail(instance, outcome.message, kind)

    def _fail(self, instance: Instance, message: str, kind: ErrorKind | None) -> None:
        instance.error_kind = kind
        self._set_task(instance, T.FAILED, message=message)
        if not self.stopping:
            self.stopping = True
            while self._waiting_for_slot:  # they will not start now: let them be skipped
                self._wake(self._waiting_for_slot.popleft())

    def _begin_cancel(self) -> None:
        if self.cancelling or self.state != RunState.RUNNING:
            return
        self.cancelling = True
        self._set_run(RunState.CANCELLING)
        if self.workflow is not None:
            self.workflow.cancel_run()
        for instance in self.root.walk():
            if instance.state in (T.PENDING, T.RUNNING):
                self._wake(instance)
            if instance.frame.exempt():
                continue
            if instance.attempt is not None:
                instance.attempt.cancel()
            elif instance.state == T.RETRYING:
                self._set_task(instance, T.CANCELLED, message="the run was cancelled")

    def _abandon(self) -> None:
        self._begin_cancel()
        self.abandoning = True
        if self.workflow is not None:
            self.workflow.cancel_run(force=True)
        for instance in self.root.walk():
            if instance.attempt is not None:
                instance.attempt.cancel(force=True)
            elif instance.state == T.RETRYING:
                self._set_task(instance, T.CANCELLED, message="the run was cancelled")
            elif instance.state == T.PENDING:
                self._wake(instance)

    # --- the deadline and the exit budget (TIME-3, TIME-4) ------------------------------------------

    def message_for(self, kind: ErrorKind) -> str:
        if kind == ErrorKind.RUN_TIMEOUT:
            return f"stopped: the run's deadline of {self.timeout_seconds:g} s passed"
        return f"stopped: the exit tasks' budget of {self.exit_timeout_seconds:g} s after the main phase ran out"

    def _deadline_passes(self) -> None:
        if self._unfinished_main == 0:
            return  # the main phase is over: the deadline no longer applies (TIME-4 does)
        self.deadline_passed = True
        self.stopping = True
        self._stop_instances(lambda instance: not instance.frame.exempt(), ErrorKind.RUN_TIMEOUT)

    def _main_phase_ended(self) -> None:
        if self.exit_timeout_seconds > 0 and self._unfinished > 0:
            self._timers.append((time.monotonic() + self.exit_timeout_seconds, self._exit_budget_runs_out))

    def _exit_budget_runs_out(self) -> None:
        self._stop_instances(lambda instance: not instance.done, ErrorKind.EXIT_TIMEOUT)
        self.exit_budget_spent = True
        for instance in self.root.walk():
            if instance.state == T.PENDING:
                self._wake(instance)

    def _stop_instances(self, chosen: Callable[[Instance], bool], why: ErrorKind) -> None:
        """Stop the running attempts of the chosen instances (they fail with `why`); fail their RETRYING ones; wake the PENDING."""
        for instance in self.root.walk():
            if not chosen(instance):
                continue
            if instance.attempt is not None:
                instance.stopped_by = why
                instance.attempt.cancel()
            elif instance.state == T.RETRYING:
                self._fail(instance, self.message_for(why), why)
            elif instance.state == T.PENDING:
                self._wake(instance)

    # --- groups -------------------------------------------------------------------------------

    def _settle_group(self, instance: Instance) -> bool:
        node = instance.node
        if isinstance(node, ir.Loop):
            self._open_iterations(instance, node)
        if instance.open_frames > 0 or instance.pending_items:
            return False
        if isinstance(node, ir.ExitHandler) and instance.exit_frame is None:
            instance.exit_frame = self._frame(
                prefix=instance.frame.prefix,
                nodes=(node.exit_task,),
                parent=instance.frame,
                loop_items=instance.frame.loop_items,
                owner=instance,
                exempt_from_stopping=True,
            )
        # The handler's state covers its guarded nodes only (EXIT-6); its exit task runs on.
        inside = [i for frame in instance.frames for i in frame.walk()]
        failed = [i for i in inside if i.state == T.FAILED]
        if failed:
            instance.error_kind = ErrorKind.GROUP_FAILED
            self._set_task(instance, T.FAILED, message=f"task '{failed[0].id}' failed: {failed[0].message}")
        elif any(i.state == T.CANCELLED for i in inside):
            self._set_task(instance, T.CANCELLED, message="the run was cancelled")
        else:
            if isinstance(node, ir.Task):  # a nested pipeline: its outputs are its inner tasks'
                graph = self.pipeline.components[node.component].implementation
                assert isinstance(graph, ir.Graph)
                top = instance.frames[0]
                instance.outputs = {}
                for name, ref in graph.outputs.items():
                    try:
                        instance.outputs[name] = self._output_of(top.instances[ref.task], ref.output)
                    except _Skip:  # GRP-5: an output whose inner task did not run (the run stopped first) is absent
                        continue
            self._set_task(instance, T.SUCCEEDED)
        return True

    def _final_status(self, instance: Instance) -> FinalStatus | None:
        """What an exit task is told about the tasks its handler guarded."""
        handler = instance.frame.owner
        if not instance.frame.exempt_from_stopping or handler is None:
            return None
        guarded = [i for frame in handler.frames for i in frame.walk()]
        fine = {T.SUCCEEDED, T.CACHED}
        benign = {SkipReason.CONDITION, SkipReason.EMPTY_LOOP, SkipReason.UPSTREAM_SKIPPED}
        if all(i.state in fine or (i.state == T.SKIPPED and i.skip_reason in benign) for i in guarded):
            return FinalStatus(state="SUCCEEDED", pipeline_job_resource_name=self.run_id, pipeline_task_name=handler.id)
        failed = next((i for i in guarded if i.state == T.FAILED and not i.frames), None)
        if any(i.state == T.CANCELLED for i in guarded) and failed is None:
            state, code, message = "CANCELLED", 1, "the run was cancelled"
        elif failed is not None:
            state, code, message = "FAILED", 4 if failed.timed_out else 2, f"task '{failed.id}' failed: {failed.message}"
        else:
            first = next((i for i in self.root.walk() if i.state == T.FAILED and not i.frames), None)
            state, code, message = "FAILED", 2, f"not run: task '{first.id}' failed" if first else "not run"
        return FinalStatus(
            state=state, pipeline_job_resource_name=self.run_id, pipeline_task_name=handler.id, error_code=code, error_message=message
        )

    # --- values -------------------------------------------------------------------------------

    def _resolve(self, frame: Frame, argument: ir.Argument) -> InputBinding:
        if isinstance(argument, ir.Constant):
            return InputBinding(value=argument.value)
        if isinstance(argument, ir.ParameterRef):
            return frame.parameter(argument.name)
        if isinstance(argument, ir.OutputRef):
            producer = frame.lookup(argument.task)
            assert producer is not None, f"validated IR refers to {argument.task}"
            return self._output_of(producer, argument.output)
        if isinstance(argument, ir.LoopItemRef):
            item = frame.loop_items[argument.loop]
            if argument.key is not None:
                if not isinstance(item, dict) or argument.key not in item:
                    raise _Broken(f"loop item {item!r} has no key '{argument.key}'")
                item = item[argument.key]
            return InputBinding(value=item)
        if isinstance(argument, ir.CollectedRef):
            return self._collect(frame, argument)
        return InputBinding(value=None)  # the final status travels in the task spec

    def _output_of(self, producer: Instance, output: str) -> InputBinding:
        if producer.state == T.SKIPPED:
            raise _Skip(SkipReason.UPSTREAM_SKIPPED, f"'{producer.id}' was skipped, so its output '{output}' does not exist")
        if producer.state not in (T.SUCCEEDED, T.CACHED) or output not in producer.outputs:
            raise _Skip(SkipReason.UPSTREAM_FAILED, f"'{producer.id}' did not produce its output '{output}'")
        return producer.outputs[output]

    def _collect(self, frame: Frame, ref: ir.CollectedRef) -> InputBinding:
        loop = self._enclosing_loop_of(frame, ref.task)
        if loop.state == T.SKIPPED and loop.skip_reason != SkipReason.EMPTY_LOOP:
            raise _Skip(SkipReason.UPSTREAM_SKIPPED, f"ParallelFor '{loop.node.name}' did not run, so there is nothing to collect")
        gathered = self._gather(loop, ref)
        if gathered and all(isinstance(binding, InputBinding) and binding.artifacts for binding in _flatten(gathered)):
            return InputBinding(artifacts=tuple(ref for binding in _flatten(gathered) for ref in binding.artifacts))
        return InputBinding(value=_values(gathered, self._value))

    def _enclosing_loop_of(self, frame: Frame, task: str) -> Instance:
        current: Frame | None = frame
        while current is not None:
            holder = current.level.container.get(task)
            if holder is not None:
                return current.instances[holder]
            current = current.parent
        raise AssertionError(f"validated IR collects from {task}")

    def _gather(self, loop: Instance, ref: ir.CollectedRef) -> list[Any]:
        """One entry per iteration, in item order: the output, or a list for an inner loop."""
        gathered: list[Any] = []
        for iteration in loop.frames:
            found = self._find_in(iteration, ref)
            if found is not None:
                gathered.append(found)
        return gathered

    def _find_in(self, frame: Frame, ref: ir.CollectedRef) -> Any:
        holder_name = frame.level.container.get(ref.task)
        if holder_name is None:
            return None
        holder = frame.instances[holder_name]
        if holder.node.name == ref.task:
            return holder.outputs.get(ref.output) if holder.state in (T.SUCCEEDED, T.CACHED) else None
        if isinstance(holder.node, ir.Loop):
            return self._gather(holder, ref)
        for child in holder.frames:  # a branch or a body: the task is in at most one that ran
            found = self._find_in(child, ref)
            if found is not None:
                return found
        return None

    def _value(self, binding: InputBinding) -> Any:
        """The plain value of a parameter binding, fetching it from the store if it was spilled."""
        if binding.value_uri is not None:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "value.json"
                self.stores.download(binding.value_uri, path)
                return json.loads(path.read_text(encoding="utf-8"))
        if binding.artifacts:
            raise _Broken("an artifact cannot be used as a value here")
        return None if binding.value is msgspec.UNSET else binding.value

    def _holds(self, frame: Frame, comparison: ir.Comparison) -> bool:
        """Evaluate a branch's comparison on typed JSON values (CND-3), untyped ones converted first (CND-4)."""
        left = self._value(self._resolve(frame, comparison.left))
        right = self._value(self._resolve(frame, comparison.right))
        left_untyped = self._declared_type(frame, comparison.left) == types.ANY
        right_untyped = self._declared_type(frame, comparison.right) == types.ANY
        try:
            return compare(left, comparison.op, right, left_untyped=left_untyped, right_untyped=right_untyped)
        except ConditionError as error:
            raise _Broken(str(error), ErrorKind.CONDITION_ERROR) from None

    def _declared_type(self, frame: Frame, argument: ir.Argument) -> str | None:
        if isinstance(argument, ir.ParameterRef):
            return frame.parameter_type(argument.name)
        if isinstance(argument, ir.OutputRef):
            producer = frame.lookup(argument.task)
            if producer is not None and isinstance(producer.node, ir.Task):
                spec = self.pipeline.components[producer.node.component].output(argument.output)
                return spec.type if spec else None
        return None

    def _pipeline_parameters(self, arguments: dict[str, Any]) -> dict[str, InputBinding]:
        parameters: dict[str, InputBinding] = {}
        for spec in self.pipeline.parameters:
            if spec.name in arguments:
                parameters[spec.name] = InputBinding(value=arguments[spec.name])
            elif not spec.required:
                parameters[spec.name] = InputBinding(value=spec.default)
        return parameters

    # --- recording ----------------------------------------------------------------------------

    def _set_task(self, instance: Instance, state: TaskState, reason: SkipReason | None = None, message: str = "") -> None:
        TASK_TRANSITIONS.check(instance.state, state)
        was_done = instance.done
        instance.state = state
        if instance.done and not was_done:
            self._finished(instance)
        instance.skip_reason = reason
        if message:
            instance.message = message
        for observer in self.observers:
            observer.task_changed(self.run_id, instance)
        if self.workflow is not None and (instance.done or instance.driver_outputs):
            self._tell_workflow(self.workflow, instance)

    def _tell_workflow(self, workflow: WorkflowLauncher, instance: Instance) -> None:
        """What the pods of `instance` must do, when the engine decided it without (another) attempt."""
        if not self._submitted:  # kept from before a retry: told once the run is submitted (_submit)
            return
        node = instance.node
        outputs = instance.driver_outputs
        if not outputs and isinstance(node, (ir.Condition, ir.Loop)):  # decided before it started: no branch, no iteration
            outputs = DRIVER_OUTPUTS["condition" if isinstance(node, ir.Condition) else "loop"]
        decision = Decision(
            state=instance.state.value,
            exit_code=1 if instance.state == T.FAILED else 0,
            outputs=outputs,
            message=instance.message,
            opened=bool(instance.frames),
        )
        workflow.decided(instance.id, decision)

    def _finished(self, instance: Instance) -> None:
        """Wake what may now be decided: the nodes that wait for it, and its group when its frame is done."""
        self._unfinished -= 1
        frame = instance.frame
        frame.remaining -= 1
        if not frame.exempt():
            self._unfinished_main -= 1
            if self._unfinished_main == 0:
                self._main_phase_ended()
        for name in frame.level.dependents.get(instance.node.name, ()):
            self._wake(frame.instances[name])
        if frame.remaining == 0 and frame.group is not None:
            frame.group.open_frames -= 1
            self._wake(frame.group)

    def _set_run(self, state: RunState) -> None:
        RUN_TRANSITIONS.check(self.state, state)
        self.state = state
        for observer in self.observers:
            observer.run_changed(self.run_id, state, self.error_kind if state == RunState.FAILED else None, self.message)


def _edge_outcome(upstream: Instance, kind: str) -> TaskState | SkipReason | None:
    """What a final upstream node does to one edge (DEP-3): None satisfies it."""
    state, reason = upstream.state, upstream.skip_reason
    if state in (T.SUCCEEDED, T.CACHED):
        return None
    if state == T.CANCELLED:
        return T.CANCELLED
    if state == T.FAILED or reason == SkipReason.UPSTREAM_FAILED:
        return SkipReason.UPSTREAM_FAILED
    if reason in (SkipReason.CONDITION, SkipReason.EMPTY_LOOP):
        return SkipReason.UPSTREAM_SKIPPED if kind == "data" else None
    return reason


def _imported_artifact(uri: Any, artifact_type: str, metadata: dict[str, Any]) -> ArtifactRef:
    if not isinstance(uri, str):
        raise _Broken(f"an importer's URI must be a string, got {uri!r}")
    return ArtifactRef(uri=uri, type=artifact_type if types.is_artifact(artifact_type) else "Artifact", metadata=metadata)


def _flatten(items: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for item in items:
        flat.extend(_flatten(item) if isinstance(item, list) else [item])
    return flat


def _values(items: list[Any], value_of: Callable[[InputBinding], Any]) -> list[Any]:
    return [_values(item, value_of) if isinstance(item, list) else value_of(item) for item in items]
