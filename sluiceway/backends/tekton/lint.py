"""The checks Tekton's admission webhook makes that no schema does (../shared/schemas/README.md): run on every
PipelineRun before it is written or submitted, so that a pipeline Tekton would reject fails here, naming the task and
the rule (pkg/apis/pipeline/v1/*_validation.go).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ...core.graph import cycle_in

MAX_NAME = 63
MAX_MATRIX_COMBINATIONS = 256
"""Tekton's default `default-max-matrix-combinations-count`."""
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_RESULT_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_RESULT_REFERENCE = re.compile(r"\$\(tasks\.([^.)]+)\.results\.([^.)\[]+)")
_DURATION = re.compile(r"^(\d+(\.\d+)?(h|m|s|ms))+$|^0$")


def lint(pipeline_run: dict[str, Any]) -> list[str]:
    """Every rule the PipelineRun breaks, one sentence each naming where (empty: Tekton would take it)."""
    return list(_problems(pipeline_run))


def _problems(pipeline_run: dict[str, Any]) -> Iterator[str]:
    spec = pipeline_run.get("spec", {})
    pipeline = spec.get("pipelineSpec", {})
    tasks, finally_tasks = pipeline.get("tasks", []), pipeline.get("finally", [])
    names = [task.get("name", "") for task in [*tasks, *finally_tasks]]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        yield f"pipeline task '{duplicate}' appears twice (names are unique across tasks and finally)"
    results = {
        task.get("name", ""): {r.get("name") for r in task.get("taskSpec", {}).get("results", [])} for task in [*tasks, *finally_tasks]
    }
    finally_names = {task.get("name", "") for task in finally_tasks}
    for task in tasks:
        yield from _task_problems(task, results, finally_names, finally_task=False)
    for task in finally_tasks:
        yield from _task_problems(task, results, finally_names, finally_task=True)
    yield from _cycle_problems(tasks)
    yield from _timeout_problems(spec.get("timeouts", {}))
    yield from _task_run_name_problems(tasks, names)


def _task_run_name_problems(tasks: list[dict[str, Any]], names: list[str]) -> Iterator[str]:
    """Not the webhook's, the reconciler's: a matrixed task's TaskRuns are named PIPELINERUN-TASK-0, -1, ..., and a task
    named TASK-N would have its TaskRun taken for one of them (its own never created, the run never ending)."""
    for task in tasks:
        if "matrix" not in task:
            continue
        taken = re.compile(rf"^{re.escape(task.get('name', ''))}-\d+$")
        for other in sorted(name for name in names if taken.match(name)):
            yield f"pipeline task '{other}' has the name of a TaskRun of matrixed task '{task.get('name')}'"


def _task_problems(task: dict[str, Any], results: dict[str, set[str]], finally_names: set[str], *, finally_task: bool) -> Iterator[str]:
    name = task.get("name", "")
    where = f"pipeline task '{name}'"
    if not _DNS_LABEL.match(name) or len(name) > MAX_NAME:
        yield f"{where}: a name must be a DNS-1123 label (lowercase letters, digits and '-', at most {MAX_NAME} characters)"
    if finally_task and task.get("runAfter"):
        yield f"{where}: a finally task cannot use runAfter"
    for after in task.get("runAfter", []):
        if after not in results:
            yield f"{where}: runAfter names '{after}', which is not a task of the pipeline"
        elif after in finally_names:
            yield f"{where}: runAfter names the finally task '{after}'"
    for result in task.get("taskSpec", {}).get("results", []):
        if not _RESULT_NAME.match(result.get("name", "")):
            yield f"{where}: result name '{result.get('name')}' is not allowed"
    for producer, result in _RESULT_REFERENCE.findall(str({k: v for k, v in task.items() if k != "taskSpec"})):
        if producer not in results:
            yield f"{where}: refers to task '{producer}', which is not a task of the pipeline"
        elif producer in finally_names and not finally_task:
            yield f"{where}: refers to the finally task '{producer}'"
        elif result not in results[producer]:
            yield f"{where}: refers to result '{result}' of task '{producer}', which declares no such result"
    for when in task.get("when", []):
        if when.get("operator") not in ("in", "notin") or not when.get("values"):
            yield f"{where}: a when expression needs the operator in or notin and at least one value"
    if task.get("retries") and task.get("onError") == "continue":
        yield f"{where}: retries cannot be combined with onError: continue"
    matrix = task.get("matrix", {})
    declared = {param.get("name") for param in task.get("params", [])}
    combinations = 1
    for param in matrix.get("params", []):
        if param.get("name") in declared:
            yield f"{where}: matrix parameter '{param.get('name')}' is also a parameter"
        if isinstance(param.get("value"), list):
            combinations *= len(param["value"])
    if combinations > MAX_MATRIX_COMBINATIONS:
        yield f"{where}: {combinations} matrix combinations; Tekton allows {MAX_MATRIX_COMBINATIONS} by default"
    steps = task.get("taskSpec", {}).get("steps", [])
    if not steps:
        yield f"{where}: a task needs at least one step"


def _cycle_problems(tasks: list[dict[str, Any]]) -> Iterator[str]:
    """runAfter and result references together must be acyclic."""
    before = {task.get("name", ""): set(task.get("runAfter", [])) | {p for p, _ in _RESULT_REFERENCE.findall(str(task))} for task in tasks}
    cycle = cycle_in(before)
    if cycle:
        yield f"the pipeline's tasks wait for each other in a cycle: {' -> '.join(cycle)}"


def _timeout_problems(timeouts: dict[str, str]) -> Iterator[str]:
    seconds = {}
    for key, value in timeouts.items():
        if not _DURATION.match(str(value)):
            yield f"timeouts.{key}: '{value}' is not a duration"
            return
        seconds[key] = _to_seconds(str(value))
    pipeline = seconds.get("pipeline", 0)
    if pipeline and seconds.get("tasks", 0) + seconds.get("finally", 0) > pipeline:
        yield "timeouts: pipeline must be at least tasks + finally"


def _to_seconds(duration: str) -> float:
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(number) * units[unit] for number, _, unit in re.findall(r"(\d+(\.\d+)?)(ms|h|m|s)", duration))
