"""What of a Workflow's spec the simulator understands, checked before anything runs, and small readers of its values.

A Workflow that uses a field outside this subset fails at once ("invalid spec: ..."), naming the field, rather than
running with the field silently ignored. The structural checks are those of Argo's validation
(workflow/validate/validate.go) that a renderer can get wrong: the entrypoint and every `template:` exist, a task has
`depends` or `dependencies` but not both, a dependency names a task of the same DAG, and the DAG has no cycle.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from .expressions import ExpressionError, depends_of, depends_tasks

Spec = dict[str, Any]

# The fields the simulator implements, per kind of object ("*" marks the list items of a field).
_ALLOWED: dict[str, frozenset[str]] = {
    "spec": frozenset(
        {
            "entrypoint",
            "templates",
            "arguments",
            "serviceAccountName",
            "imagePullSecrets",
            "podMetadata",
            "onExit",
            "shutdown",
            "activeDeadlineSeconds",
            "parallelism",
            "nodeSelector",
            "tolerations",
            "ttlStrategy",
        }
    ),
    "template": frozenset(
        {
            "name",
            "container",
            "dag",
            "inputs",
            "outputs",
            "nodeSelector",
            "tolerations",
            "metadata",
            "parallelism",
            "retryStrategy",
            "activeDeadlineSeconds",
            "volumes",
        }
    ),
    "container": frozenset(
        {"name", "image", "command", "args", "env", "envFrom", "resources", "workingDir", "imagePullPolicy", "volumeMounts"}
    ),
    "dag": frozenset({"tasks", "failFast"}),
    "task": frozenset({"name", "template", "arguments", "depends", "dependencies", "when", "withItems", "withParam", "hooks"}),
    "hook": frozenset({"template", "arguments"}),
    "arguments": frozenset({"parameters"}),
    "argument": frozenset({"name", "value"}),
    "inputs": frozenset({"parameters"}),
    "input": frozenset({"name", "default", "value"}),
    "outputs": frozenset({"parameters"}),
    "output": frozenset({"name", "valueFrom"}),
    "valueFrom": frozenset({"path", "parameter", "default"}),
    "retryStrategy": frozenset({"limit", "retryPolicy", "backoff"}),
    "backoff": frozenset({"duration", "factor", "cap", "maxDuration"}),
    "metadata": frozenset({"labels", "annotations"}),
}
RETRY_POLICIES = ("Always", "OnFailure", "OnError", "OnTransientError")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class SpecError(ValueError):
    """The Workflow cannot run: a field the simulator does not support, or a spec Argo's validation rejects."""


def validate(spec: Spec) -> None:
    """Raise SpecError naming the first unsupported field or structural mistake."""
    _fields(spec, "spec", "spec")
    templates = {template.get("name"): template for template in spec.get("templates") or []}
    if spec.get("entrypoint") not in templates:
        raise SpecError(f"spec.entrypoint: template {spec.get('entrypoint')!r} not found")
    if spec.get("onExit") and spec["onExit"] not in templates:
        raise SpecError(f"spec.onExit: template {spec['onExit']!r} not found")
    if spec.get("shutdown") not in (None, "", "Stop", "Terminate"):
        raise SpecError(f"spec.shutdown: unsupported value {spec['shutdown']!r}")
    _arguments(spec.get("arguments"), "spec.arguments")
    _fields(spec.get("podMetadata"), "metadata", "spec.podMetadata")
    for index, template in enumerate(spec.get("templates") or []):
        _template(template, f"spec.templates[{index}]", templates)


def _fields(obj: Any, kind: str, where: str) -> None:
    if obj is None:
        return
    if not isinstance(obj, dict):
        raise SpecError(f"{where}: must be an object")
    for key in obj:
        if key not in _ALLOWED[kind]:
            raise SpecError(f"{where}.{key}: not supported by the Argo simulator")


def _arguments(arguments: Any, where: str) -> None:
    _fields(arguments, "arguments", where)
    for index, parameter in enumerate((arguments or {}).get("parameters") or []):
        _fields(parameter, "argument", f"{where}.parameters[{index}]")


def _template(template: Spec, where: str, templates: Mapping[str, Spec]) -> None:
    _fields(template, "template", where)
    kinds = [kind for kind in ("container", "dag") if kind in template]
    if len(kinds) != 1:
        raise SpecError(f"{where}: a template must have exactly one of container or dag (the simulator supports only these)")
    _fields(template.get("container"), "container", f"{where}.container")
    _fields(template.get("metadata"), "metadata", f"{where}.metadata")
    _fields(template.get("inputs"), "inputs", f"{where}.inputs")
    for index, parameter in enumerate((template.get("inputs") or {}).get("parameters") or []):
        _fields(parameter, "input", f"{where}.inputs.parameters[{index}]")
    _fields(template.get("outputs"), "outputs", f"{where}.outputs")
    for index, parameter in enumerate((template.get("outputs") or {}).get("parameters") or []):
        _output(parameter, f"{where}.outputs.parameters[{index}]", "path" if "container" in template else "parameter")
    if "dag" in template:
        for leaf_only in ("retryStrategy", "activeDeadlineSeconds"):
            if leaf_only in template:
                raise SpecError(f"{where}.{leaf_only}: the simulator supports it on container templates only")
        _dag(template["dag"], f"{where}.dag", templates)
    _retry_strategy(template.get("retryStrategy"), f"{where}.retryStrategy")


def _output(parameter: Spec, where: str, source: str) -> None:
    _fields(parameter, "output", where)
    value_from = parameter.get("valueFrom") or {}
    _fields(value_from, "valueFrom", f"{where}.valueFrom")
    if source not in value_from:
        raise SpecError(f"{where}.valueFrom.{source}: required (the simulator reads outputs only from there)")
    other = "parameter" if source == "path" else "path"
    if other in value_from:
        raise SpecError(f"{where}.valueFrom.{other}: not supported on this kind of template")


def _retry_strategy(strategy: Any, where: str) -> None:
    _fields(strategy, "retryStrategy", where)
    if strategy is None:
        return
    if strategy.get("retryPolicy", "OnFailure") not in RETRY_POLICIES:
        raise SpecError(f"{where}.retryPolicy: unsupported value {strategy['retryPolicy']!r}")
    _fields(strategy.get("backoff"), "backoff", f"{where}.backoff")


def _dag(dag: Spec, where: str, templates: Mapping[str, Spec]) -> None:
    _fields(dag, "dag", where)
    tasks = dag.get("tasks") or []
    names = [task.get("name") for task in tasks]
    for index, task in enumerate(tasks):
        here = f"{where}.tasks[{index}]"
        _fields(task, "task", here)
        _arguments(task.get("arguments"), f"{here}.arguments")
        if "depends" in task and "dependencies" in task:
            raise SpecError(f"{here}: cannot use both 'depends' and 'dependencies'")
        if "withItems" in task and "withParam" in task:
            raise SpecError(f"{here}: only one of withItems or withParam can be specified")
        for name in template_references(task):
            if name not in templates:
                raise SpecError(f"{here}: template {name!r} not found")
        for key, hook in (task.get("hooks") or {}).items():
            if key != "exit":
                raise SpecError(f"{here}.hooks.{key}: the simulator supports only the 'exit' hook")
            _fields(hook, "hook", f"{here}.hooks.exit")
            _arguments(hook.get("arguments"), f"{here}.hooks.exit.arguments")
        for dependency in _dependencies(task, here):
            if dependency not in names:
                raise SpecError(f"{here}: dependency {dependency!r} is not a task of this DAG")
    _acyclic({task["name"]: _dependencies(task, where) for task in tasks}, where)


def template_references(task: Spec) -> Iterator[str]:
    yield str(task.get("template"))
    hook = (task.get("hooks") or {}).get("exit")
    if hook:
        yield str(hook.get("template"))


def _dependencies(task: Spec, where: str) -> list[str]:
    try:
        return depends_tasks(depends_of(task))
    except ExpressionError as error:
        raise SpecError(f"{where}.depends: {error}") from None


def _acyclic(graph: Mapping[str, list[str]], where: str) -> None:
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise SpecError(f"{where}: dependency cycle {' -> '.join((*path, name))}")
        if name not in done:
            for dependency in graph.get(name, []):
                visit(dependency, (*path, name))
            done.add(name)

    for name in graph:
        visit(name, ())


# Readers of IntOrString and duration fields.


def seconds(value: Any, where: str) -> float:
    """A duration: an int, or a string of plain seconds ("5") or Go duration units ("1m30s")."""
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise SpecError(f"{where}: invalid duration {value!r}")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def integer(value: Any, where: str) -> int:
    """An IntOrString that must hold an integer ("2" or 2)."""
    try:
        return int(str(value).strip())
    except ValueError:
        raise SpecError(f"{where}: {value!r} is not an integer") from None
