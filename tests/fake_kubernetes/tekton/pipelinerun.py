"""The PipelineRun reconciler: validation, params, TaskRuns for the tasks that are ready, cancellation, timeouts and
the PipelineRun's status (T: pkg/reconciler/pipelinerun/pipelinerun.go; docs/pipelineruns.md)."""

from __future__ import annotations

import contextlib
import copy
import time
from typing import Any

from ..errors import ApiError
from ..objects import Obj, ObjectStore, rfc3339
from ..resources import Resource
from .facts import CANCELLED_BY_PIPELINE, CANCELLED_BY_TIMEOUT, Budget, Facts, MissingResult, producers
from .taskrun import MANAGED_BY, ON_ERROR_ANNOTATION, TASKRUNS, Enqueue, done, owner_reference, set_condition
from .variables import (
    SubstitutionError,
    Value,
    chain,
    child_name,
    format_duration,
    params_lookup,
    parse_duration,
    substitute_any,
    variables_in,
)

PIPELINERUNS = Resource("tekton.dev", "v1", "pipelineruns")
DEFAULT_TIMEOUT = 3600.0  # `default-timeout-minutes`: 60
MAX_COMBINATIONS = 256  # `default-max-matrix-combinations-count`


class Invalid(Exception):
    """The PipelineRun cannot run: it fails at once with `reason` (a PipelineRun reason Tekton uses)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class PipelineRunReconciler:
    def __init__(self, store: ObjectStore, enqueue: Enqueue) -> None:
        self.store = store
        self.enqueue = enqueue
        self._started: dict[str, float] = {}  # uid -> monotonic time of startTime
        self._finally_started: dict[str, float] = {}  # uid -> monotonic time of finallyStartTime

    def reconcile(self, namespace: str, name: str) -> None:
        pr = self.store.find(PIPELINERUNS, namespace, name)
        if pr is None or "deletionTimestamp" in pr["metadata"] or done(pr):
            return
        status = copy.deepcopy(pr.get("status") or {})
        if pr["spec"].get("status") == "PipelineRunPending" and "startTime" not in status:
            set_condition(status, "Unknown", "PipelineRunPending", f'PipelineRun "{name}" is pending')
            return self._write(pr, status)
        try:
            _validate(pr)
            params = _params(pr)
        except Invalid as invalid:
            return self._finish(pr, status, invalid.reason, str(invalid))
        uid = pr["metadata"]["uid"]
        if "startTime" not in status:
            status["startTime"] = rfc3339()
            self._started[uid] = time.monotonic()
        facts = self._facts(pr, params)
        if self._ended_by_control(pr, status, facts):
            return
        self._cancel_expired(pr, facts)
        try:
            self._schedule(pr, status, facts)
        except MissingResult as missing:  # a consumer in `tasks` of a result that was never written (T: docs/pipelines.md)
            return self._finish(pr, status, "InvalidTaskResultReference", str(missing), self._facts(pr, params))
        except SubstitutionError as error:
            return self._finish(pr, status, "PipelineValidationFailed", str(error), self._facts(pr, params))
        except Invalid as invalid:
            return self._finish(pr, status, invalid.reason, str(invalid), self._facts(pr, params))
        self._report(pr, status, self._facts(pr, params))

    # Reading.

    def _facts(self, pr: Obj, params: dict[str, Value]) -> Facts:
        metadata = pr["metadata"]
        grouped: dict[str, list[Obj]] = {}
        for taskrun in self.store.select(TASKRUNS, metadata.get("namespace", ""), lambda tr: _owned_by(tr, pr))[0]:
            grouped.setdefault(taskrun["metadata"]["labels"].get("tekton.dev/pipelineTask", ""), []).append(taskrun)
        return Facts(pr, params, grouped, self._budget(pr))

    def _budget(self, pr: Obj) -> Budget:
        """`spec.timeouts`: pipeline (default 60 min), tasks and finally, "0" for none; an unset tasks or finally
        timeout is what the pipeline timeout leaves of the other (T: docs/pipelineruns.md "Configuring a failure timeout")."""
        timeouts = pr["spec"].get("timeouts") or {}
        pipeline = _seconds(timeouts.get("pipeline"), DEFAULT_TIMEOUT)
        tasks, finally_ = _seconds(timeouts.get("tasks"), None), _seconds(timeouts.get("finally"), None)
        if pipeline is not None and tasks is None and finally_ is not None:
            tasks = pipeline - finally_
        if pipeline is not None and finally_ is None and tasks is not None:
            finally_ = pipeline - tasks
        uid = pr["metadata"]["uid"]
        now = time.monotonic()
        started = self._started.setdefault(uid, now)
        finally_started = self._finally_started.get(uid)
        return Budget(now - started, None if finally_started is None else now - finally_started, pipeline, tasks, finally_)

    # Control: cancellation and timeouts.

    def _ended_by_control(self, pr: Obj, status: dict[str, Any], facts: Facts) -> bool:
        """`spec.status: Cancelled` and the pipeline timeout end the run at once, every TaskRun cancelled, finally
        tasks included (T: docs/pipelineruns.md "Cancelling a PipelineRun", "Configuring a failure timeout")."""
        name = pr["metadata"]["name"]
        if pr["spec"].get("status") == "Cancelled":
            reason, message, why = "Cancelled", f'PipelineRun "{name}" was cancelled', CANCELLED_BY_PIPELINE
        elif facts.budget.pipeline_expired:
            assert facts.budget.pipeline is not None
            reason, why = "PipelineRunTimeout", CANCELLED_BY_TIMEOUT
            message = f'PipelineRun "{name}" failed to finish within "{format_duration(facts.budget.pipeline)}"'
        else:
            return False
        self._cancel(facts.running_taskruns(facts.all_names), why)
        self._finish(pr, status, reason, message, facts)
        return True

    def _cancel_expired(self, pr: Obj, facts: Facts) -> None:
        """CancelledRunFinally and the tasks timeout cancel running DAG TaskRuns; the finally timeout, finally ones."""
        tasks, finally_ = list(facts.tasks), list(facts.finally_)
        if pr["spec"].get("status") == "CancelledRunFinally":
            self._cancel(facts.running_taskruns(tasks), CANCELLED_BY_PIPELINE)
        if facts.budget.tasks_expired:
            self._cancel(facts.running_taskruns(tasks), CANCELLED_BY_TIMEOUT)
        if facts.budget.finally_expired:
            self._cancel(facts.running_taskruns(finally_), CANCELLED_BY_TIMEOUT)

    def _cancel(self, taskruns: list[Obj], why: str) -> None:
        def change(current: Obj) -> Obj:
            if not current["spec"].get("status"):
                current["spec"].update(status="TaskRunCancelled", statusMessage=why)
            return current

        for taskrun in taskruns:
            with contextlib.suppress(ApiError):  # gone already
                self.store.update(TASKRUNS, taskrun["metadata"].get("namespace", ""), taskrun["metadata"]["name"], change)

    # Scheduling.

    def _schedule(self, pr: Obj, status: dict[str, Any], facts: Facts) -> None:
        for name in facts.next_tasks():
            facts.resolve_all(name)
            if name in facts.finally_ and "finallyStartTime" not in status:
                status["finallyStartTime"] = rfc3339()
                self._finally_started[pr["metadata"]["uid"]] = time.monotonic()
            combinations = facts.combinations(name)
            if len(combinations) > MAX_COMBINATIONS:  # T: docs/matrix.md "Configuring a Matrix"
                raise Invalid(
                    "PipelineValidationFailed",
                    f"task {name}: the matrix has {len(combinations)} combinations, more than the {MAX_COMBINATIONS} allowed",
                )
            for index, combination in enumerate(combinations):
                suffix = f"-{name}" if len(combinations) == 1 else f"-{name}-{index}"
                manifest = self._taskrun(pr, facts, name, child_name(pr["metadata"]["name"], suffix), combination)
                with contextlib.suppress(ApiError):  # AlreadyExists: made by an earlier reconcile that lost its status write
                    self.store.create(TASKRUNS, pr["metadata"].get("namespace", ""), manifest)

    def _taskrun(self, pr: Obj, facts: Facts, name: str, taskrun_name: str, combination: dict[str, str]) -> Obj:
        task = facts.task(name)
        lookup = facts.lookup(name)
        params = [{"name": p["name"], "value": substitute_any(p["value"], lookup)} for p in task.get("params") or []]
        params += [{"name": key, "value": value} for key, value in combination.items()]
        spec: dict[str, Any] = {
            "taskSpec": _propagate(task["taskSpec"], facts, name),
            "params": params,
            "timeout": self._timeout(facts, name),
        }
        if task.get("retries"):
            spec["retries"] = int(task["retries"])
        template = pr["spec"].get("taskRunTemplate") or {}
        for field in ("serviceAccountName", "podTemplate"):
            if field in template:
                spec[field] = copy.deepcopy(template[field])
        if not params:
            del spec["params"]
        return {
            "apiVersion": "tekton.dev/v1",
            "kind": "TaskRun",
            "metadata": {"name": taskrun_name, **_taskrun_metadata(pr, name, name in facts.finally_, task)},
            "spec": spec,
        }

    def _timeout(self, facts: Facts, name: str) -> str:
        """The task's `timeout`, cut to what its section's budget has left (T: pipelinerun.go `calculateTaskRunTimeout`)."""
        budget = facts.budget
        is_finally = name in facts.finally_
        section = (budget.finally_ if is_finally else budget.tasks) or budget.pipeline
        elapsed = 0.0 if is_finally and budget.finally_ is not None else budget.elapsed
        own = _seconds(facts.task(name).get("timeout"), None)
        if section is None:
            return format_duration(own or 0)
        left = section - elapsed if section > elapsed else 1.0
        return format_duration(round(min(own, left) if own else left, 3))

    # Writing the status.

    def _report(self, pr: Obj, status: dict[str, Any], facts: Facts) -> None:
        self._describe(pr, status, facts)
        state, reason, message = facts.condition()
        if state == "Unknown":
            set_condition(status, state, reason, message)
            self._write(pr, status)
            return self._wake_at_deadline(pr, facts.budget)
        results = _pipeline_results(pr, facts)
        if results:
            status["results"] = results
        self._finish(pr, status, reason, message, state=state)

    def _describe(self, pr: Obj, status: dict[str, Any], facts: Facts) -> None:
        status["pipelineSpec"] = copy.deepcopy(pr["spec"]["pipelineSpec"])
        children = []
        for name in facts.all_names:
            for taskrun in facts.taskruns[name]:
                child = {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": taskrun["metadata"]["name"], "pipelineTaskName": name}
                if facts.task(name).get("when"):
                    child["whenExpressions"] = facts.resolved_when(name)
                children.append(child)
        status.pop("childReferences", None)
        status.pop("skippedTasks", None)
        if children:
            status["childReferences"] = children
        skipped = facts.skipped_tasks()
        if skipped:
            status["skippedTasks"] = skipped

    def _finish(self, pr: Obj, status: dict[str, Any], reason: str, message: str, facts: Facts | None = None, state: str = "False") -> None:
        if facts is not None:
            self._describe(pr, status, facts)
        set_condition(status, state, reason, message)
        status["completionTime"] = rfc3339()
        self._write(pr, status)

    def _write(self, pr: Obj, status: dict[str, Any]) -> None:
        uid = pr["metadata"]["uid"]

        def change(current: Obj) -> Obj:
            if current["metadata"]["uid"] != uid:
                raise ApiError.not_found(PIPELINERUNS.qualified, current["metadata"]["name"])
            current["status"] = status
            return current

        self.store.update(PIPELINERUNS, pr["metadata"].get("namespace", ""), pr["metadata"]["name"], change, subresource="status")

    def _wake_at_deadline(self, pr: Obj, budget: Budget) -> None:
        """Timeouts are noticed on time, not only when a TaskRun changes."""
        deadlines = [limit - budget.elapsed for limit in (budget.pipeline, budget.tasks) if limit is not None]
        if budget.finally_ is not None and budget.finally_elapsed is not None:
            deadlines.append(budget.finally_ - budget.finally_elapsed)
        upcoming = [seconds for seconds in deadlines if seconds > -1]
        if upcoming:
            key = ("pipelinerun", pr["metadata"].get("namespace", ""), pr["metadata"]["name"])
            self.enqueue(key, max(0.0, min(upcoming)) + 0.01)


def _owned_by(taskrun: Obj, pr: Obj) -> bool:
    return any(ref.get("uid") == pr["metadata"]["uid"] for ref in taskrun["metadata"].get("ownerReferences") or [])


def _seconds(text: Any, default: float | None) -> float | None:
    """A Go duration in seconds; None for "0" (no timeout) and, when absent, `default`."""
    if text is None:
        return default
    seconds = parse_duration(str(text))
    return seconds or None


def _taskrun_metadata(pr: Obj, name: str, is_finally: bool, task: dict[str, Any]) -> dict[str, Any]:
    """The PipelineRun's labels and annotations, Tekton's own labels, and the owner reference that cascades deletion."""
    metadata = pr["metadata"]
    labels = {
        **(metadata.get("labels") or {}),
        **MANAGED_BY,
        "tekton.dev/pipeline": metadata["name"],
        "tekton.dev/pipelineRun": metadata["name"],
        "tekton.dev/pipelineRunUID": metadata["uid"],
        "tekton.dev/pipelineTask": name,
        "tekton.dev/memberOf": "finally" if is_finally else "tasks",
    }
    annotations = dict(metadata.get("annotations") or {})
    if task.get("onError") == "continue":
        annotations[ON_ERROR_ANNOTATION] = "continue"
    result: dict[str, Any] = {"labels": labels, "ownerReferences": [owner_reference(pr)]}
    if annotations:
        result["annotations"] = annotations
    return result


def _propagate(task_spec: dict[str, Any], facts: Facts, name: str) -> dict[str, Any]:
    """Pipeline params and `context.pipelineRun.*` substituted into an embedded taskSpec, except the params it declares
    itself, which the TaskRun resolves (T: docs/pipelines.md "Propagated Parameters")."""
    own = {p["name"] for p in task_spec.get("params") or []}
    pipeline_params = {key: value for key, value in facts.params.items() if key not in own}
    metadata = facts.pr["metadata"]
    context = {
        "context.pipelineRun.name": metadata["name"],
        "context.pipelineRun.namespace": metadata.get("namespace", ""),
        "context.pipelineRun.uid": metadata["uid"],
    }
    result: dict[str, Any] = substitute_any(copy.deepcopy(task_spec), chain(params_lookup(pipeline_params), context.get))
    return result


def _pipeline_results(pr: Obj, facts: Facts) -> list[dict[str, Any]]:
    """`status.results`: each pipeline result whose references all resolve to tasks that succeeded."""
    lookup = facts.lookup("", only_successful=True)
    results = []
    for result in pr["spec"]["pipelineSpec"].get("results") or []:
        try:
            value = substitute_any(result["value"], lookup)
        except (MissingResult, SubstitutionError):
            continue
        if not any(variable.startswith("tasks.") for variable in variables_in(value)):
            results.append({"name": result["name"], "value": value})
    return results


def _params(pr: Obj) -> dict[str, Value]:
    """The run's params over the pipeline's defaults; every declared param needs one or the other."""
    given: dict[str, Value] = {p["name"]: p["value"] for p in pr["spec"].get("params") or []}
    declared = pr["spec"]["pipelineSpec"].get("params") or []
    missing = [p["name"] for p in declared if p["name"] not in given and "default" not in p]
    if missing:
        name = pr["metadata"]["name"]
        raise Invalid(
            "ParameterMissing",
            f"PipelineRun {pr['metadata'].get('namespace', '')}/{name} is missing some parameters required by Pipeline {name}'s parameters: {missing}",
        )
    return {**{p["name"]: p["default"] for p in declared if "default" in p}, **given}


def _validate(pr: Obj) -> None:
    """What Tekton's webhook or reconciler would refuse, and what the simulator does not run, said plainly."""
    spec = pr["spec"]
    if "pipelineSpec" not in spec:
        if "pipelineRef" in spec:
            raise Invalid("CouldntGetPipeline", "the Tekton simulator runs only an embedded pipelineSpec: pipelineRef is not simulated")
        raise Invalid("PipelineValidationFailed", "spec.pipelineSpec is required")
    pipeline = spec["pipelineSpec"]
    tasks, finally_ = pipeline.get("tasks") or [], pipeline.get("finally") or []
    names = [t.get("name", "") for t in [*tasks, *finally_]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise Invalid("PipelineValidationFailed", f"pipeline task names must be unique: {duplicates}")
    for task in [*tasks, *finally_]:
        _validate_task(task, is_finally=task in finally_)
    _check_graph(tasks)


def _validate_task(task: dict[str, Any], *, is_finally: bool) -> None:
    name = task.get("name", "")
    if "taskRef" in task:
        raise Invalid("CouldntGetTask", f"task {name}: the Tekton simulator runs only an embedded taskSpec: taskRef is not simulated")
    steps = (task.get("taskSpec") or {}).get("steps") or []
    if len(steps) != 1:
        raise Invalid("PipelineValidationFailed", f"task {name}: the Tekton simulator runs exactly one step per task, not {len(steps)}")
    if "script" in steps[0]:
        raise Invalid("PipelineValidationFailed", f"task {name}: the Tekton simulator does not run step scripts: give the step a command")
    if any("cel" in expression for expression in task.get("when") or []):
        raise Invalid("PipelineValidationFailed", f"task {name}: CEL when expressions need an alpha feature flag and are not simulated")
    if is_finally and task.get("runAfter"):
        raise Invalid("PipelineValidationFailed", f"finally task {name}: invalid value: no runAfter allowed under spec.finally")
    if task.get("onError") == "continue" and task.get("retries"):
        raise Invalid("PipelineValidationFailed", f"task {name}: PipelineTask OnError cannot be set to continue when using Retries")


def _check_graph(tasks: list[dict[str, Any]]) -> None:
    """runAfter and result references name tasks of the pipeline, without cycles."""
    known = {t["name"] for t in tasks}
    edges: dict[str, set[str]] = {}
    for task in tasks:
        parents = set(task.get("runAfter") or []) | set(producers(task))
        unknown = sorted(parents - known)
        if unknown:
            raise Invalid("PipelineInvalidGraph", f"task {task['name']} depends on {unknown}, which are not tasks of the pipeline")
        edges[task["name"]] = parents
    visiting: set[str] = set()
    finished: set[str] = set()

    def visit(name: str) -> None:
        if name in finished:
            return
        if name in visiting:
            raise Invalid("PipelineInvalidGraph", f"cycle detected; task {name!r} depends on itself")
        visiting.add(name)
        for parent in edges[name]:
            visit(parent)
        finished.add(name)

    for name in edges:
        visit(name)
