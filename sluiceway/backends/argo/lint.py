"""The checks Argo makes that no schema does (../shared/schemas/README.md): run on every Workflow before it is written
or submitted, so that a pipeline Argo would reject fails here, naming the task and the rule.

From the full CRD's CEL rules and workflow/validate/validate.go: name rules and lengths, unique names, at most 200
templates and 200 tasks per DAG, `depends` and `dependencies` not together, references to templates and tasks that
exist, an acyclic DAG, `{{tasks.X...}}` only for an X the task depends on, one kind per template, deadlines only on
container templates, and output parameters with exactly one source.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ...core.graph import cycle_in
from ..kube.pods import TASK_LABEL

MAX_TEMPLATES = 200
MAX_DAG_TASKS = 200
MAX_NAME = 128
MAX_WORKFLOW_NAME = 63
GENERATED_SUFFIX = 5
"""Characters Kubernetes appends to a `generateName`."""
_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")
_PARAMETER = re.compile(r"^[a-zA-Z0-9_-]+$")
_TASK_REFERENCE = re.compile(r"\{\{tasks\.([^.}]+)\.")
_DEPENDS_TERM = re.compile(r"[A-Za-z0-9][-A-Za-z0-9]*(?=\.|\b)")
_TEMPLATE_KINDS = ("container", "dag", "steps", "script", "resource", "suspend", "containerSet", "data", "http", "plugin")


def lint(workflow: dict[str, Any]) -> list[str]:
    """Every rule the Workflow breaks, one sentence each naming where (empty: Argo would take it)."""
    return list(_problems(workflow))


def _problems(workflow: dict[str, Any]) -> Iterator[str]:
    metadata, spec = workflow.get("metadata", {}), workflow.get("spec", {})
    name = metadata.get("name")
    if name is not None and len(name) > MAX_WORKFLOW_NAME:
        yield f"the Workflow's name '{name}' is {len(name)} characters long; Argo allows {MAX_WORKFLOW_NAME}"
    generated = metadata.get("generateName")
    if generated is not None and len(generated) + GENERATED_SUFFIX > MAX_WORKFLOW_NAME:
        yield f"the Workflow's generateName '{generated}' leaves no room for the {GENERATED_SUFFIX} characters Kubernetes adds"
    templates = spec.get("templates", [])
    if len(templates) > MAX_TEMPLATES:
        yield f"the Workflow has {len(templates)} templates; Argo allows at most {MAX_TEMPLATES} (one per task and group)"
    names = [template.get("name", "") for template in templates]
    known = set(names)
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        yield f"template '{duplicate}' is defined twice"
    for reference, where in (
        (spec.get("entrypoint"), "the entrypoint"),
        (spec.get("onExit"), "onExit"),
    ):
        if reference is not None and reference not in known:
            yield f"{where} names template '{reference}', which does not exist"
    for template in templates:
        yield from _template_problems(template, known)


def _template_problems(template: dict[str, Any], known: set[str]) -> Iterator[str]:
    name = template.get("name", "")
    where = _describe(template)
    yield from _name_problems(name, f"{where}: template name")
    kinds = [kind for kind in _TEMPLATE_KINDS if kind in template]
    if len(kinds) != 1:
        yield f"{where}: a template has exactly one kind, not {', '.join(kinds) or 'none'}"
    if "dag" in template and ("activeDeadlineSeconds" in template or "timeout" in template):
        yield f"{where}: activeDeadlineSeconds and timeout apply to container templates only"
    for parameter in [*template.get("inputs", {}).get("parameters", []), *template.get("outputs", {}).get("parameters", [])]:
        if not _PARAMETER.match(parameter.get("name", "")):
            yield f"{where}: parameter name '{parameter.get('name')}' is not letters, digits, '_' and '-'"
    for output in template.get("outputs", {}).get("parameters", []):
        if ("value" in output) == ("valueFrom" in output):
            yield f"{where}: output parameter '{output.get('name')}' needs exactly one of value and valueFrom"
    if "dag" in template:
        yield from _dag_problems(template["dag"].get("tasks", []), where, known)


def _dag_problems(tasks: list[dict[str, Any]], where: str, known: set[str]) -> Iterator[str]:
    if len(tasks) > MAX_DAG_TASKS:
        yield f"{where}: {len(tasks)} tasks in one DAG; Argo allows at most {MAX_DAG_TASKS} (split the level into groups or nested pipelines)"
    names = [task.get("name", "") for task in tasks]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        yield f"{where}: task '{duplicate}' appears twice"
    upstream: dict[str, set[str]] = {}
    for task in tasks:
        task_name = task.get("name", "")
        at = f"{where}, task '{task_name}'"
        yield from _name_problems(task_name, f"{at}: name")
        if task_name[:1].isdigit():
            yield f"{at}: a DAG task with dependencies cannot start with a digit"
        if "depends" in task and "dependencies" in task:
            yield f"{at}: depends and dependencies cannot be used together"
        for reference in (task.get("template"), task.get("hooks", {}).get("exit", {}).get("template")):
            if reference is not None and reference not in known:
                yield f"{at}: template '{reference}' does not exist"
        terms = set(_DEPENDS_TERM.findall(task.get("depends", ""))) | set(task.get("dependencies", []))
        upstream[task_name] = terms - _DEPENDS_RESULTS
        for missing in sorted(upstream[task_name] - set(names)):
            yield f"{at}: depends on '{missing}', which is not a task of this DAG"
        for text in _strings(task):
            for referenced in _TASK_REFERENCE.findall(text):
                if referenced not in upstream[task_name]:
                    yield f"{at}: uses {{{{tasks.{referenced}...}}}} without depending on '{referenced}'"
    cycle = cycle_in(upstream)
    if cycle:
        yield f"{where}: the tasks depend on each other in a cycle: {' -> '.join(cycle)}"


_DEPENDS_RESULTS = {"Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed"}


def _name_problems(name: str, what: str) -> Iterator[str]:
    if not _NAME.match(name):
        yield f"{what} '{name}' is not letters, digits and '-' starting with a letter or digit"
    if len(name) > MAX_NAME:
        yield f"{what} '{name}' is {len(name)} characters long; Argo allows {MAX_NAME}"


def _describe(template: dict[str, Any]) -> str:
    """How a message names a template: with the pipeline task it runs, when it runs one."""
    task = template.get("metadata", {}).get("labels", {}).get(TASK_LABEL)
    return f"template '{template.get('name')}' (task '{task}')" if task else f"template '{template.get('name')}'"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
