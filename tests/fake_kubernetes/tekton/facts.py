"""What a PipelineRun's pipeline tasks have done, and what follows from it: edges, skips, variables, the run's condition.

One `Facts` is computed from the PipelineRun and its TaskRuns at each reconcile, as Tekton's `PipelineRunFacts` is
(T: pkg/reconciler/pipelinerun/resources/pipelinerunstate.go and pipelinerunresolution.go). Skips are checked in
the order of `ResolvedPipelineTask.skip()`; the state counts and the condition follow `GetPipelineConditionStatus`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from ..objects import Obj
from .variables import Lookup, SubstitutionError, Value, chain, params_lookup, select, substitute, substitute_list, variables_in

# SkippingReason values (T: pkg/apis/pipeline/v1/pipelinerun_types.go).
WHEN_SKIP = "When Expressions evaluated to false"
PARENT_SKIP = "Parent Tasks were skipped"
STOPPING_SKIP = "PipelineRun was stopping"
CANCELLED_SKIP = "PipelineRun was gracefully cancelled"
STOPPED_SKIP = "PipelineRun was gracefully stopped"
MISSING_RESULTS_SKIP = "Results were missing"
PIPELINE_TIMEOUT_SKIP = "PipelineRun timeout has been reached"
TASKS_TIMEOUT_SKIP = "PipelineRun Tasks timeout has been reached"
FINALLY_TIMEOUT_SKIP = "PipelineRun Finally timeout has been reached"
EMPTY_MATRIX_SKIP = "Matrix Parameters have an empty array"
_TIMEOUT_SKIPS = (PIPELINE_TIMEOUT_SKIP, TASKS_TIMEOUT_SKIP, FINALLY_TIMEOUT_SKIP)

CANCELLED_BY_PIPELINE = "TaskRun cancelled as the PipelineRun it belongs to has been cancelled."
CANCELLED_BY_TIMEOUT = "TaskRun cancelled as the PipelineRun it belongs to has timed out."
_RESULT_REF = re.compile(r"^tasks\.([^.]+)\.results\.([^.\[]+)(\[(?:\*|\d+)\])?(?:\.(.+))?$")


class MissingResult(Exception):
    """A `$(tasks.t.results.r)` that cannot be resolved; `producer` is t."""

    def __init__(self, producer: str, message: str) -> None:
        super().__init__(message)
        self.producer = producer


@dataclass(frozen=True)
class Budget:
    """Seconds elapsed and the PipelineRun's timeouts (None: no timeout), as `spec.timeouts` resolves them."""

    elapsed: float
    finally_elapsed: float | None
    pipeline: float | None
    tasks: float | None
    finally_: float | None

    @property
    def pipeline_expired(self) -> bool:
        return self.pipeline is not None and self.elapsed > self.pipeline

    @property
    def tasks_expired(self) -> bool:
        return self.tasks is not None and self.elapsed > self.tasks

    @property
    def finally_expired(self) -> bool:
        return self.finally_ is not None and self.finally_elapsed is not None and self.finally_elapsed > self.finally_


@dataclass(frozen=True)
class Counts:
    succeeded: int = 0
    failed: int = 0
    ignored: int = 0
    cancelled: int = 0
    skipped: int = 0
    skipped_by_timeout: int = 0
    incomplete: int = 0


def succeeded_condition(obj: Obj) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == "Succeeded"), {})


def _done(taskrun: Obj) -> bool:
    return succeeded_condition(taskrun).get("status") in ("True", "False")


def _failed(taskrun: Obj) -> bool:
    return succeeded_condition(taskrun).get("status") == "False"


def _cancelled(taskrun: Obj) -> bool:
    return _failed(taskrun) and succeeded_condition(taskrun).get("reason") == "TaskRunCancelled"


class Facts:
    def __init__(self, pr: Obj, params: dict[str, Value], taskruns: dict[str, list[Obj]], budget: Budget) -> None:
        spec = pr["spec"]["pipelineSpec"]
        self.pr = pr
        self.spec_status = pr["spec"].get("status", "")
        self.params = params
        self.budget = budget
        self.tasks: dict[str, dict[str, Any]] = {t["name"]: t for t in spec.get("tasks") or []}
        self.finally_: dict[str, dict[str, Any]] = {t["name"]: t for t in spec.get("finally") or []}
        self.taskruns = {name: sorted(taskruns.get(name, []), key=lambda tr: tr["metadata"]["name"]) for name in self.all_names}
        self._skips: dict[str, str | None] = {}

    @property
    def all_names(self) -> list[str]:
        return [*self.tasks, *self.finally_]

    def task(self, name: str) -> dict[str, Any]:
        return self.tasks.get(name) or self.finally_[name]

    # The graph (T: docs/pipelines.md "Configuring the Task execution order").

    def parents(self, name: str) -> list[str]:
        """runAfter, and every task whose results this one's params, matrix or when reference; none for finally."""
        if name in self.finally_:
            return []
        task = self.tasks[name]
        return list(dict.fromkeys([*(task.get("runAfter") or []), *producers(task)]))

    def has_result_refs(self, name: str) -> bool:
        return bool(producers(self.task(name)))

    # A pipeline task's TaskRuns.

    def scheduled(self, name: str) -> bool:
        return bool(self.taskruns[name])

    def successful(self, name: str) -> bool:
        runs = self.taskruns[name]
        return bool(runs) and all(succeeded_condition(tr).get("status") == "True" for tr in runs)

    def failure(self, name: str) -> bool:
        """Some TaskRun failed and all are done (a matrix fails only once every combination has ended)."""
        runs = self.taskruns[name]
        return bool(runs) and all(map(_done, runs)) and any(map(_failed, runs))

    def cancelled(self, name: str) -> bool:
        runs = self.taskruns[name]
        return bool(runs) and all(map(_done, runs)) and any(map(_cancelled, runs))

    def cancelled_by_timeout(self, name: str) -> bool:
        runs = self.taskruns[name]
        timed_out = any(_cancelled(tr) and tr["spec"].get("statusMessage") == CANCELLED_BY_TIMEOUT for tr in runs)
        return bool(runs) and all(map(_done, runs)) and timed_out

    def running_taskruns(self, names: list[str]) -> list[Obj]:
        return [tr for name in names for tr in self.taskruns[name] if not _done(tr)]

    # Skipping (T: pipelinerunresolution.go `skip()` and `IsFinallySkipped()`, in that order).

    @property
    def stopping(self) -> bool:
        """A DAG task failed without `onError: continue`: no new DAG task starts (T: docs/pipelines.md "Using the onError field")."""
        return any(self.failure(name) and self.tasks[name].get("onError") != "continue" for name in self.tasks)

    def skip(self, name: str) -> str | None:
        """Why a pipeline task will not run, or None; memoised, as the parents' skips are asked again and again."""
        if name not in self._skips:
            self._skips[name] = self._finally_skip(name) if name in self.finally_ else self._dag_skip(name)
        return self._skips[name]

    def _dag_skip(self, name: str) -> str | None:
        if self.scheduled(name):
            return None
        if self.stopping:
            return STOPPING_SKIP
        if self.spec_status == "CancelledRunFinally":
            return CANCELLED_SKIP
        if self.spec_status == "StoppedRunFinally":
            return STOPPED_SKIP
        if any(self.skip(parent) not in (None, WHEN_SKIP) for parent in self.parents(name)):  # a when-skip does not cascade
            return PARENT_SKIP
        if not self.parents_done(name):
            return None
        return self._late_skip(name, self.budget.tasks_expired, TASKS_TIMEOUT_SKIP)

    def _finally_skip(self, name: str) -> str | None:
        if self.scheduled(name) or not self.dag_done:
            return None
        return self._late_skip(name, self.budget.finally_expired, FINALLY_TIMEOUT_SKIP)

    def _late_skip(self, name: str, section_expired: bool, section_reason: str) -> str | None:
        """The checks made once the parents are done: results, when, timeouts, empty matrix."""
        if self._results_missing(name):
            return MISSING_RESULTS_SKIP
        if not self.when_allows(name):
            return WHEN_SKIP
        if self.budget.pipeline_expired:
            return PIPELINE_TIMEOUT_SKIP
        if section_expired:
            return section_reason
        if self._empty_matrix(name):
            return EMPTY_MATRIX_SKIP
        return None

    def _results_missing(self, name: str) -> bool:
        """A missing result skips a finally task, an `onError: continue` task, or the consumer of a when-skipped
        producer; any other consumer fails the run instead (T: docs/pipelines.md "Passing one Task's Results into the
        Parameters or when expressions of another")."""
        if not self.has_result_refs(name):
            return False
        try:
            self.resolve_all(name)
        except MissingResult as missing:
            task = self.task(name)
            producer_when_skipped = missing.producer in self.tasks and self.skip(missing.producer) == WHEN_SKIP
            return name in self.finally_ or task.get("onError") == "continue" or producer_when_skipped
        return False

    def when_allows(self, name: str) -> bool:
        """Every `when` expression holds (T: docs/pipelines.md "Guard Task execution using when expressions")."""
        lookup = self.lookup(name)
        try:
            for expression in self.task(name).get("when") or []:
                value = substitute(str(expression.get("input", "")), lookup)
                values = substitute_list(list(expression.get("values") or []), lookup)
                if (value in values) != (expression.get("operator") == "in"):
                    return False
        except MissingResult:
            return True  # unresolvable: the run fails with InvalidTaskResultReference when the task is scheduled
        return True

    def resolved_when(self, name: str) -> list[dict[str, Any]]:
        """The task's when expressions as Tekton reports them: with params, and the results it could resolve, applied."""
        lookup = self.lookup(name)
        resolved = []
        for expression in self.task(name).get("when") or []:
            try:
                value = substitute(str(expression.get("input", "")), lookup)
                entry = {**expression, "input": value, "values": substitute_list(list(expression.get("values") or []), lookup)}
            except (MissingResult, SubstitutionError):
                entry = expression
            resolved.append(entry)
        return resolved

    def _empty_matrix(self, name: str) -> bool:
        try:
            return any(not values for values in self.matrix(name).values()) if "matrix" in self.task(name) else False
        except (MissingResult, SubstitutionError):
            return False

    def parents_done(self, name: str) -> bool:
        return all(self.is_done(parent) for parent in self.parents(name))

    def is_done(self, name: str) -> bool:
        return self.skip(name) is not None or self.successful(name) or self.failure(name)

    @property
    def dag_done(self) -> bool:
        return all(self.is_done(name) for name in self.tasks)

    def finally_done(self) -> bool:
        return all(self.is_done(name) for name in self.finally_)

    # What to run next (T: pipelinerunstate.go `DAGExecutionQueue`, `GetFinalTasks`).

    def next_tasks(self) -> list[str]:
        """DAG tasks whose parents are done, unless the run is stopping or cancelled; then, once every DAG task is
        done, the finally tasks, whatever happened before."""
        if self.spec_status == "Cancelled":
            return []
        ready = [name for name in self.tasks if not self.scheduled(name) and self.parents_done(name) and self.skip(name) is None]
        if self.dag_done:
            ready += [name for name in self.finally_ if not self.scheduled(name) and self.skip(name) is None]
        return ready

    # Variables, as the PipelineRun controller substitutes them.

    def lookup(self, name: str, *, only_successful: bool = False) -> Lookup:
        """Pipeline params, `context.pipelineRun.*`, task results and, for finally tasks, task statuses."""
        metadata = self.pr["metadata"]
        context = {
            "context.pipelineRun.name": metadata["name"],
            "context.pipelineRun.namespace": metadata.get("namespace", ""),
            "context.pipelineRun.uid": metadata["uid"],
            "context.pipeline.name": metadata["name"],  # an embedded pipelineSpec is named after its run
        }
        statuses = self.task_statuses() if name in self.finally_ else {}
        return chain(params_lookup(self.params), context.get, statuses.get, lambda variable: self._result(variable, only_successful))

    def _result(self, variable: str, only_successful: bool) -> Value | None:
        match = _RESULT_REF.match(variable)
        if not match:
            return None
        producer, result, index, key = match.groups()
        missing = MissingResult(producer, f"Could not find result with name {result} for task {producer}")
        if producer not in self.tasks or (only_successful and not self.successful(producer)):
            raise missing
        results = self.results_of(producer)
        if result not in results:
            raise missing
        value = select({result: results[result]}, result + (index or "") + (f".{key}" if key else ""))
        if value is None:
            raise missing
        return value

    def results_of(self, name: str) -> dict[str, Value]:
        """A task's results; a matrixed task's string results as arrays, over its TaskRuns in name order (as
        Tekton's results cache sorts them; T: docs/matrix.md "Results")."""
        runs = self.taskruns[name]
        if "matrix" not in self.tasks[name]:
            return {r["name"]: r["value"] for r in ((runs[0].get("status") or {}).get("results") or [])} if runs else {}
        gathered: dict[str, list[str]] = {}
        for taskrun in runs:
            for result in (taskrun.get("status") or {}).get("results") or []:
                gathered.setdefault(result["name"], []).append(str(result["value"]))
        return dict(gathered)

    def resolve_all(self, name: str) -> None:
        """Raise MissingResult if any result reference of the task cannot be resolved."""
        lookup = self.lookup(name)
        for variable in variables_in(_referencing(self.task(name))):
            if _RESULT_REF.match(variable):
                lookup(variable)

    def task_statuses(self) -> dict[str, str]:
        """`$(tasks.<t>.status)` and `$(tasks.status)` (T: docs/pipelines.md "Using Execution Status of pipelineTask")."""
        statuses = {f"tasks.{name}.status": self._status_of(name) for name in self.tasks}
        aggregate = "None"
        if self.dag_done:
            failed = any(any(map(_failed, self.taskruns[name])) for name in self.tasks)
            skipped = any(self.skip(name) for name in self.tasks)
            aggregate = "Failed" if failed else "Completed" if skipped else "Succeeded"
        statuses["tasks.status"] = aggregate
        return statuses

    def _status_of(self, name: str) -> str:
        if self.successful(name):
            return "Succeeded"
        return "Failed" if any(map(_failed, self.taskruns[name])) else "None"

    def matrix(self, name: str) -> dict[str, list[str]]:
        """The matrix params with variables resolved: name -> values."""
        lookup = self.lookup(name)
        resolved: dict[str, list[str]] = {}
        for param in self.task(name)["matrix"].get("params") or []:
            value = param["value"]
            values = substitute_list(value, lookup) if isinstance(value, list) else substitute(str(value), lookup)
            if not isinstance(values, list):
                raise SubstitutionError(f"matrix param {param['name']} must be an array")
            resolved[param["name"]] = values
        return resolved

    def combinations(self, name: str) -> list[dict[str, str]]:
        """The matrix fan-out, first param varying slowest (T: docs/matrix.md "Fan Out"); one empty combination
        for a task with no matrix."""
        if "matrix" not in self.task(name):
            return [{}]
        matrix = self.matrix(name)
        return [dict(zip(matrix, values, strict=True)) for values in itertools.product(*matrix.values())]

    # The run's state (T: pipelinerunstate.go `getPipelineTasksCount`, `GetPipelineConditionStatus`).

    def counts(self) -> Counts:
        tally = dict.fromkeys(Counts.__dataclass_fields__, 0)
        for name in self.all_names:
            skip = self.skip(name)
            if self.successful(name):
                tally["succeeded"] += 1
            elif self.cancelled_by_timeout(name):
                tally["failed"] += 1
            elif self.cancelled(name):
                tally["cancelled"] += 1
            elif self.failure(name):
                tally["ignored" if self.task(name).get("onError") == "continue" else "failed"] += 1
            elif skip is not None:
                tally["skipped"] += 1
                tally["skipped_by_timeout"] += skip in _TIMEOUT_SKIPS
            else:
                tally["incomplete"] += 1
        return Counts(**tally)

    def condition(self) -> tuple[str, str, str]:
        """(status, reason, message) of the `Succeeded` condition while no timeout or cancellation ended the run."""
        c = self.counts()
        completed = c.succeeded + c.failed + c.cancelled + c.ignored
        if c.incomplete:
            message = f"Tasks Completed: {completed} (Failed: {c.failed}, Cancelled {c.cancelled}), Incomplete: {c.incomplete}, Skipped: {c.skipped}"
            return "Unknown", self._running_reason(c), message
        failed = f"{c.failed + c.ignored} (Ignored: {c.ignored})" if c.ignored else str(c.failed)
        message = f"Tasks Completed: {completed} (Failed: {failed}, Cancelled {c.cancelled}), Skipped: {c.skipped}"
        if c.failed or c.skipped_by_timeout:
            return "False", "Failed", message
        if self.spec_status in ("CancelledRunFinally", "StoppedRunFinally"):
            return "False", "Cancelled", f'PipelineRun "{self.pr["metadata"]["name"]}" was cancelled'
        if c.cancelled:
            return "False", "Cancelled", message
        return "True", "Completed" if c.skipped else "Succeeded", message

    def _running_reason(self, c: Counts) -> str:
        if self.spec_status == "CancelledRunFinally":
            return "CancelledRunningFinally"
        if self.spec_status == "StoppedRunFinally":
            return "StoppedRunningFinally"
        if c.cancelled or (c.failed and self.finally_done()):
            return "PipelineRunStopping"
        return "Running"

    def skipped_tasks(self) -> list[dict[str, Any]]:
        """`status.skippedTasks`: when expressions shown for DAG tasks, and for finally tasks skipped by theirs."""
        skipped = []
        for name in self.all_names:
            reason = self.skip(name)
            if reason is None:
                continue
            entry: dict[str, Any] = {"name": name, "reason": reason}
            if self.task(name).get("when") and (name in self.tasks or reason == WHEN_SKIP):
                entry["whenExpressions"] = self.resolved_when(name)
            skipped.append(entry)
        return skipped


def producers(task: dict[str, Any]) -> list[str]:
    """The tasks whose results a pipeline task references, in order, with repeats."""
    return [match.group(1) for match in map(_RESULT_REF.match, variables_in(_referencing(task))) if match]


def _referencing(task: dict[str, Any]) -> dict[str, Any]:
    """The parts of a pipeline task whose variables the PipelineRun controller resolves (not the taskSpec)."""
    return {key: task[key] for key in ("params", "matrix", "when") if key in task}
