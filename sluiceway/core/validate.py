"""Validation of a pipeline against the IR's rules.

Every problem found is reported at once, each naming the pipeline, the task, the field and
the Python source line where the task was created. The checks run in time linear in the
size of the pipeline, so that very large generated pipelines stay cheap to compile.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import msgspec

from . import types
from .errors import PipelineValidationError, Problem
from .ir import (
    Argument,
    CollectedRef,
    Comparison,
    Component,
    ConcatPlaceholder,
    Condition,
    Constant,
    Container,
    ExitHandler,
    Graph,
    IfPresentPlaceholder,
    Importer,
    InputPathPlaceholder,
    InputSpec,
    InputUriPlaceholder,
    InputValuePlaceholder,
    Loop,
    LoopItemRef,
    Node,
    OutputPathPlaceholder,
    OutputRef,
    OutputSpec,
    OutputUriPlaceholder,
    ParameterRef,
    Pipeline,
    PythonFunction,
    Task,
    TaskFinalStatusRef,
    TaskSettings,
)
from .names import io_name_problem, node_name_problem

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")

_INPUT_PLACEHOLDERS = (InputValuePlaceholder, InputPathPlaceholder, InputUriPlaceholder, IfPresentPlaceholder)

Scope = tuple[str, ...]
"""The names of the groups enclosing a node, outermost first."""


def validate(pipeline: Pipeline) -> Pipeline:
    """Return `pipeline` unchanged, or raise PipelineValidationError listing every problem."""
    found = find_problems(pipeline)
    if found:
        raise PipelineValidationError(found)
    return pipeline


def find_problems(pipeline: Pipeline) -> list[Problem]:
    checker = _Checker(pipeline)
    checker.check()
    return checker.problems


@dataclass
class _Placed:
    """A node of a graph, with where it sits."""

    node: Node
    scope: Scope
    loops: tuple[Loop, ...]


@dataclass
class _GraphContext:
    label: str
    parameters: Mapping[str, InputSpec]
    placed: dict[str, _Placed] = field(default_factory=dict)
    edges: dict[Scope, dict[str, set[str]]] = field(default_factory=dict)


class _Checker:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.problems: list[Problem] = []
        self._checked_components: set[str] = set()
        self._component_stack: list[str] = []

    def report(
        self, message: str, *, graph: str | None = None, task: str | None = None, field: str | None = None, source: str | None = None
    ) -> None:
        self.problems.append(
            Problem(message=message, pipeline=graph or self.pipeline.name, task=task or "", field=field or "", source=source or "")
        )

    # --- pipeline level -----------------------------------------------------------------

    def check(self) -> None:
        pipeline = self.pipeline
        problem = node_name_problem(pipeline.name)
        if problem:
            self.report(problem, field="name")
        for key in pipeline.components:
            problem = node_name_problem(key)
            if problem:
                self.report(problem, field=f"components.{key}")
        parameters = self._check_io_specs(pipeline.parameters, pipeline.outputs, pipeline.name, "parameters")
        self._check_graph(pipeline.graph, parameters, pipeline.outputs, pipeline.name)
        for key in pipeline.components:
            self._check_component(key)

    def _check_io_specs(
        self, inputs: tuple[InputSpec, ...], outputs: tuple[OutputSpec, ...], label: str, inputs_field: str
    ) -> dict[str, InputSpec]:
        seen: dict[str, InputSpec] = {}
        for kind, specs in ((inputs_field, inputs), ("outputs", outputs)):
            for spec in specs:
                where = f"{kind}.{spec.name}"
                problem = io_name_problem(spec.name)
                if problem:
                    self.report(problem, graph=label, field=where)
                if spec.name in seen or (kind == "outputs" and any(o is not spec and o.name == spec.name for o in outputs)):
                    self.report(f"duplicate name '{spec.name}' among inputs and outputs", graph=label, field=where)
                if not types.is_known(spec.type):
                    self.report(f"unknown type '{spec.type}'", graph=label, field=where)
                if isinstance(spec, InputSpec):
                    seen.setdefault(spec.name, spec)
                    self._check_default(spec, label, where)
        return seen

    def _check_default(self, spec: InputSpec, label: str, where: str) -> None:
        if spec.default is msgspec.UNSET or spec.default is None:
            return
        if types.is_artifact(spec.type):
            self.report("an artifact input can only default to None", graph=label, field=f"{where}.default")
            return
        given = types.type_of_constant(spec.default)
        if given and not types.accepts(spec.type, given):
            self.report(f"default {spec.default!r} is a {given}, not a {spec.type}", graph=label, field=f"{where}.default")

    # --- components ----------------------------------------------------------------------

    def _check_component(self, key: str) -> None:
        if key in self._checked_components:
            return
        if key in self._component_stack:
            cycle = " -> ".join([*self._component_stack[self._component_stack.index(key) :], key])
            self.report(f"nested pipelines contain each other: {cycle}", field=f"components.{key}")
            return
        self._component_stack.append(key)
        component = self.pipeline.components[key]
        label = f"{self.pipeline.name}/{key}"
        inputs = self._check_io_specs(component.inputs, component.outputs, label, "inputs")
        implementation = component.implementation
        if isinstance(implementation, Graph):
            self._check_graph(implementation, inputs, component.outputs, label)
        elif isinstance(implementation, Container):
            for index, part in enumerate((*implementation.command, *implementation.args)):
                self._check_placeholder(part, component, label, f"implementation.command_line[{index}]")
        elif isinstance(implementation, PythonFunction):
            if not implementation.function.isidentifier():
                self.report(f"'{implementation.function}' is not a Python function name", graph=label, field="function")
            for name in implementation.returns:
                if component.output(name) is None:
                    self.report(f"returns '{name}', which is not an output", graph=label, field="implementation.returns")
        self._component_stack.pop()
        self._checked_components.add(key)

    def _check_placeholder(self, part: object, component: Component, label: str, where: str) -> None:
        named_input = part.input if isinstance(part, _INPUT_PLACEHOLDERS) else None
        if named_input is not None and component.input(named_input) is None:
            self.report(f"placeholder names unknown input '{named_input}'", graph=label, field=where)
        if isinstance(part, (OutputPathPlaceholder, OutputUriPlaceholder)) and component.output(part.output) is None:
            self.report(f"placeholder names unknown output '{part.output}'", graph=label, field=where)
        nested: tuple[object, ...] = ()
        if isinstance(part, ConcatPlaceholder):
            nested = part.items
        elif isinstance(part, IfPresentPlaceholder):
            nested = (*part.then, *part.otherwise)
        for inner in nested:
            self._check_placeholder(inner, component, label, where)

    # --- graphs ----------------------------------------------------------------------------

    def _check_graph(self, graph: Graph, parameters: Mapping[str, InputSpec], outputs: tuple[OutputSpec, ...], label: str) -> None:
        context = _GraphContext(label=label, parameters=parameters)
        for placed in _walk(graph.nodes, (), ()):
            self._place(context, placed)
        for name, placed in context.placed.items():
            self._check_node(context, name, placed)
        for scope, edges in context.edges.items():
            self._check_acyclic(context, scope, edges)
        for output in outputs:
            binding = graph.outputs.get(output.name)
            if binding is None:
                self.report(f"output '{output.name}' is not bound to any task output", graph=label, field="outputs")
                continue
            given = self._producer_type(context, binding, (), "outputs", "")
            if given and not types.accepts(output.type, given):
                self.report(
                    f"output '{output.name}' is declared as {_a(output.type)} but is bound to {_a(given)}", graph=label, field="outputs"
                )
        for name in graph.outputs:
            if not any(o.name == name for o in outputs):
                self.report(f"binds output '{name}', which is not declared", graph=label, field="outputs")

    def _place(self, context: _GraphContext, placed: _Placed) -> None:
        node = placed.node
        source = node.source
        if node.name in context.placed:
            first = context.placed[node.name].node.source
            also = f" (first defined at {first})" if first else ""
            self.report(f"duplicate name '{node.name}'{also}", graph=context.label, task=node.name, field="name", source=source)
            return
        problem = node_name_problem(node.name)
        if problem:
            self.report(problem, graph=context.label, task=node.name, field="name", source=source)
        context.placed[node.name] = placed

    def _check_node(self, context: _GraphContext, name: str, placed: _Placed) -> None:
        node = placed.node
        if isinstance(node, Task):
            self._check_task(context, node, placed, exit_task=False)
        elif isinstance(node, Importer):
            self._check_argument(context, name, placed, node.uri, "str", "uri", node.source)
            if not types.is_artifact(node.artifact_type):
                self.report(
                    f"'{node.artifact_type}' is not an artifact type",
                    graph=context.label,
                    task=name,
                    field="artifact_type",
                    source=node.source,
                )
            self._check_after(context, name, placed, node.after, node.source)
        elif isinstance(node, Condition):
            for index, branch in enumerate(node.branches):
                if branch.when is None and index != len(node.branches) - 1:
                    self.report(
                        "only the last branch may have no condition (Else)",
                        graph=context.label,
                        task=name,
                        field=f"branches[{index}]",
                        source=node.source,
                    )
                if branch.when is not None:
                    self._check_comparison(context, name, placed, branch.when, f"branches[{index}].when", node.source)
            if not node.branches or node.branches[0].when is None:
                self.report(
                    "a condition needs a first branch with a comparison (If)",
                    graph=context.label,
                    task=name,
                    field="branches",
                    source=node.source,
                )
        elif isinstance(node, Loop):
            self._check_loop(context, name, placed, node)
        elif isinstance(node, ExitHandler):
            # The exit task sits beside the group it guards.
            exit_placed = _Placed(node=node.exit_task, scope=placed.scope, loops=placed.loops)
            self._check_task(context, node.exit_task, exit_placed, exit_task=True, consumer=name)

    def _check_task(self, context: _GraphContext, task: Task, placed: _Placed, *, exit_task: bool, consumer: str | None = None) -> None:
        consumer = consumer or task.name
        report_at: dict[str, str | None] = {"graph": context.label, "task": task.name, "source": task.source}
        component = self.pipeline.components.get(task.component)
        self._check_after(context, consumer, placed, task.after, task.source)
        self._check_settings(task.settings, report_at)
        if component is None:
            self.report(f"unknown component '{task.component}'", field="component", **report_at)
            for input_name, argument in task.arguments.items():
                self._argument_type(context, consumer, placed, argument, f"arguments.{input_name}", task.source)
            return
        for input_name, argument in task.arguments.items():
            spec = component.input(input_name)
            where = f"arguments.{input_name}"
            if spec is None:
                known = ", ".join(i.name for i in component.inputs) or "none"
                self.report(f"component '{task.component}' has no input '{input_name}' (inputs: {known})", field=where, **report_at)
                continue
            if isinstance(argument, TaskFinalStatusRef) and not exit_task:
                self.report("only an ExitHandler's exit task can take the final status", field=where, **report_at)
                continue
            self._check_argument(context, consumer, placed, argument, spec.type, where, task.source)
        for spec in component.inputs:
            if spec.required and spec.name not in task.arguments:
                self.report(
                    f"missing required input '{spec.name}' of component '{task.component}'", field=f"arguments.{spec.name}", **report_at
                )

    def _check_settings(self, settings: TaskSettings, report_at: dict[str, str | None]) -> None:
        def bad(message: str, where: str) -> None:
            self.report(message, field=f"settings.{where}", **report_at)

        retry = settings.retry
        if retry is not None:
            if retry.max_retries < 0:
                bad("retries cannot be negative", "retry.max_retries")
            if retry.backoff_seconds < 0 or retry.backoff_max_seconds < 0:
                bad("backoff durations cannot be negative", "retry")
            if retry.backoff_factor < 1:
                bad("backoff factor must be at least 1", "retry.backoff_factor")
        if settings.timeout_seconds is not None and settings.timeout_seconds <= 0:
            bad("timeout must be positive", "timeout_seconds")
        staleness = settings.caching.max_staleness_seconds
        if staleness is not None and staleness < 0:
            bad("max staleness cannot be negative", "caching.max_staleness_seconds")
        resources = settings.resources
        for name in ("cpu_request", "cpu_limit", "memory_request", "memory_limit"):
            value = getattr(resources, name)
            if value is not None and not _QUANTITY.match(value):
                bad(f"'{value}' is not a resource quantity (e.g. '500m', '2', '4Gi')", f"resources.{name}")
        if resources.accelerator_count is not None and resources.accelerator_count < 0:
            bad("accelerator count cannot be negative", "resources.accelerator_count")
        for env_name in (*settings.env, *(name for secret in settings.secrets for name in secret.env)):
            if not _ENV_NAME.match(env_name):
                bad(f"'{env_name}' is not a valid environment variable name", "env")
        for secret in settings.secrets:
            if not _SECRET_NAME.match(secret.secret):
                bad(f"'{secret.secret}' is not a valid Kubernetes secret name", "secrets")
            if not secret.env and not secret.mount_path:
                bad(f"secret '{secret.secret}' is neither exposed as env nor mounted", "secrets")

    def _check_after(self, context: _GraphContext, consumer: str, placed: _Placed, after: tuple[str, ...], source: str | None) -> None:
        for upstream in after:
            if upstream not in context.placed:
                self.report(f"runs after unknown task '{upstream}'", graph=context.label, task=consumer, field="after", source=source)
                continue
            self._depend(context, consumer, placed, upstream, "after", source)

    def _check_comparison(
        self, context: _GraphContext, name: str, placed: _Placed, comparison: Comparison, where: str, source: str | None
    ) -> None:
        # The group itself evaluates the comparison, from the scope it sits in.
        kinds = []
        for side, argument in (("left", comparison.left), ("right", comparison.right)):
            kind = self._argument_type(context, name, placed, argument, f"{where}.{side}", source)
            if kind and not (types.is_parameter(kind) or kind == types.ANY_PARAMETER):
                self.report(
                    f"a condition can only compare parameters, not a {kind}",
                    graph=context.label,
                    task=name,
                    field=f"{where}.{side}",
                    source=source,
                )
            kinds.append(kind)
        if comparison.op in ("<", "<=", ">", ">=") and any(k in ("list", "dict", "bool") for k in kinds):
            self.report(
                f"'{comparison.op}' cannot order {' and '.join(str(k) for k in kinds)} values",
                graph=context.label,
                task=name,
                field=where,
                source=source,
            )

    def _check_loop(self, context: _GraphContext, name: str, placed: _Placed, loop: Loop) -> None:
        report_at: dict[str, str | None] = {"graph": context.label, "task": name, "source": loop.source}
        if loop.parallelism < 0:
            self.report("parallelism cannot be negative", field="parallelism", **report_at)
        items = loop.items
        if isinstance(items, Constant) and not isinstance(items.value, list):
            self.report(f"ParallelFor needs a list, got {type(items.value).__name__} {items.value!r}", field="items", **report_at)
            return
        outer = _Placed(node=loop, scope=placed.scope, loops=placed.loops)
        kind = self._argument_type(context, name, outer, items, "items", loop.source)
        if kind and kind not in ("list", types.ANY, types.ANY_PARAMETER):
            self.report(f"ParallelFor needs a list, got a {kind}", field="items", **report_at)

    def _check_argument(
        self, context: _GraphContext, consumer: str, placed: _Placed, argument: Argument, expected: str, where: str, source: str | None
    ) -> None:
        given = self._argument_type(context, consumer, placed, argument, where, source)
        if given is None:
            return
        if not types.accepts(expected, given):
            self.report(
                f"expects {_a(expected)}, but is given {_a(given)} {_describe(argument)}",
                graph=context.label,
                task=consumer,
                field=where,
                source=source,
            )

    def _argument_type(
        self, context: _GraphContext, consumer: str, placed: _Placed, argument: Argument, where: str, source: str | None
    ) -> str | None:
        """The type of the value `argument` refers to, reporting broken references. None if unknown."""
        report_at: dict[str, str | None] = {"graph": context.label, "task": consumer, "field": where, "source": source}
        if isinstance(argument, Constant):
            kind = types.type_of_constant(argument.value)
            if kind == "unsupported":
                self.report(f"constant of type {type(argument.value).__name__} is not supported", **report_at)
                return None
            return kind
        if isinstance(argument, ParameterRef):
            spec = context.parameters.get(argument.name)
            if spec is None:
                self.report(f"unknown pipeline parameter '{argument.name}'", **report_at)
                return None
            return spec.type
        if isinstance(argument, OutputRef):
            return self._producer_type(context, argument, placed.scope, where, consumer, placed=placed, source=source)
        if isinstance(argument, LoopItemRef):
            loop = next((lp for lp in placed.loops if lp.name == argument.loop), None)
            if loop is None:
                self.report(f"uses the item of loop '{argument.loop}', which does not enclose it", **report_at)
                return None
            return self._loop_item_type(loop, argument.key, report_at)
        if isinstance(argument, CollectedRef):
            return self._collected_type(context, consumer, placed, argument, report_at)
        return types.FINAL_STATUS

    def _producer_type(
        self,
        context: _GraphContext,
        ref: OutputRef,
        scope: Scope,
        where: str,
        consumer: str,
        *,
        placed: _Placed | None = None,
        source: str | None = None,
    ) -> str | None:
        report_at: dict[str, str | None] = {"graph": context.label, "task": consumer, "field": where, "source": source}
        producer = context.placed.get(ref.task)
        if producer is None:
            self.report(f"refers to unknown task '{ref.task}'", **report_at)
            return None
        if placed is not None:
            self._depend(context, consumer, placed, ref.task, where, source)
        elif producer.scope:
            self.report(f"task '{ref.task}' is inside '{producer.scope[-1]}'; its outputs are not visible here", **report_at)
        output = self._output_spec(producer.node, ref.output)
        if output is None:
            self.report(f"task '{ref.task}' has no output '{ref.output}'", **report_at)
            return None
        return output.type

    def _output_spec(self, node: Node, output_name: str) -> OutputSpec | None:
        if isinstance(node, Importer):
            return OutputSpec(name="artifact", type=node.artifact_type) if output_name == "artifact" else None
        if isinstance(node, Task):
            component = self.pipeline.components.get(node.component)
            return component.output(output_name) if component else None
        return None

    def _loop_item_type(self, loop: Loop, key: str | None, report_at: dict[str, str | None]) -> str:
        if not isinstance(loop.items, Constant) or not isinstance(loop.items.value, list) or not loop.items.value:
            return types.ANY_PARAMETER
        items = loop.items.value
        if key is not None:
            if not all(isinstance(item, dict) and key in item for item in items):
                self.report(f"loop '{loop.name}' has items without the key '{key}'", **report_at)
                return types.ANY_PARAMETER
            items = [item[key] for item in items]
        kinds = {types.type_of_constant(item) for item in items}
        only = kinds.pop() if len(kinds) == 1 else None
        return only if only is not None else types.ANY_PARAMETER

    def _collected_type(
        self, context: _GraphContext, consumer: str, placed: _Placed, ref: CollectedRef, report_at: dict[str, str | None]
    ) -> str | None:
        producer = context.placed.get(ref.task)
        if producer is None:
            self.report(f"collects from unknown task '{ref.task}'", **report_at)
            return None
        outside = [lp for lp in producer.loops if lp not in placed.loops]
        if not outside:
            self.report(f"dsl.Collected needs task '{ref.task}' to be inside a ParallelFor that does not enclose the consumer", **report_at)
            return None
        loop_placed = context.placed[outside[0].name]
        if not _is_prefix(loop_placed.scope, placed.scope):
            self.report(f"collects from task '{ref.task}', whose loop is not visible here", **report_at)
            return None
        # Depend on the loop as a whole: the fan-in waits for every iteration.
        self._add_edge(context, consumer, placed, outside[0].name, loop_placed.scope, report_at)
        output = self._output_spec(producer.node, ref.output)
        if output is None:
            self.report(f"task '{ref.task}' has no output '{ref.output}'", **report_at)
            return None
        kind = output.type
        for _ in outside[1:]:
            kind = types.list_of(kind)
        return types.list_of(kind)

    # --- dependencies and cycles -----------------------------------------------------------

    def _depend(self, context: _GraphContext, consumer: str, placed: _Placed, producer_name: str, where: str, source: str | None) -> None:
        producer = context.placed[producer_name]
        report_at: dict[str, str | None] = {"graph": context.label, "task": consumer, "field": where, "source": source}
        if not _is_prefix(producer.scope, placed.scope):
            group = context.placed[producer.scope[len(_common_prefix(producer.scope, placed.scope))]].node
            if isinstance(group, Loop):
                hint = f"task '{producer_name}' runs inside ParallelFor '{group.name}'; use dsl.Collected to gather its outputs"
            elif isinstance(group, Condition):
                hint = f"task '{producer_name}' runs only under condition '{group.name}'; depend on it only from within that branch"
            else:
                hint = f"task '{producer_name}' is inside '{group.name}'; depend on it only from within that group"
            self.report(hint, **report_at)
            return
        self._add_edge(context, consumer, placed, producer_name, producer.scope, report_at)

    def _add_edge(
        self, context: _GraphContext, consumer: str, placed: _Placed, producer_name: str, level: Scope, report_at: dict[str, str | None]
    ) -> None:
        """Record `consumer` depends on `producer_name` (which sits at `level`), lifted to that level."""
        if consumer == producer_name:
            self.report(f"'{consumer}' depends on itself", **report_at)
            return
        consumer_side = placed.scope[len(level)] if len(placed.scope) > len(level) else consumer
        if consumer_side != producer_name:
            context.edges.setdefault(level, {}).setdefault(consumer_side, set()).add(producer_name)

    def _check_acyclic(self, context: _GraphContext, scope: Scope, edges: dict[str, set[str]]) -> None:
        state: dict[str, int] = {}  # 1: on the current path, 2: done
        for start in sorted(edges):
            if state.get(start):
                continue
            path: list[str] = [start]
            iterators: list[Iterator[str]] = [iter(sorted(edges.get(start, ())))]
            state[start] = 1
            while iterators:
                upstream = next(iterators[-1], None)
                if upstream is None:
                    state[path.pop()] = 2
                    iterators.pop()
                elif state.get(upstream) == 1:
                    cycle = [*path[path.index(upstream) :], upstream]
                    node = context.placed[cycle[0]].node
                    self.report(
                        "dependency cycle: " + " -> ".join(reversed(cycle)),
                        graph=context.label,
                        task=cycle[0],
                        field="after/arguments",
                        source=node.source,
                    )
                    return
                elif not state.get(upstream):
                    state[upstream] = 1
                    path.append(upstream)
                    iterators.append(iter(sorted(edges.get(upstream, ()))))


def _walk(nodes: tuple[Node, ...], scope: Scope, loops: tuple[Loop, ...]) -> Iterator[_Placed]:
    for node in nodes:
        yield _Placed(node=node, scope=scope, loops=loops)
        inner_scope = (*scope, node.name)
        if isinstance(node, Condition):
            for branch in node.branches:
                yield from _walk(branch.nodes, inner_scope, loops)
        elif isinstance(node, Loop):
            yield from _walk(node.nodes, inner_scope, (*loops, node))
        elif isinstance(node, ExitHandler):
            yield from _walk(node.nodes, inner_scope, loops)


def _is_prefix(prefix: Scope, scope: Scope) -> bool:
    return scope[: len(prefix)] == prefix


def _common_prefix(a: Scope, b: Scope) -> Scope:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _a(type_name: str) -> str:
    if type_name == types.ANY_PARAMETER:
        return "a parameter"
    return f"{'an' if type_name[0] in 'AEIOUaeiou' else 'a'} {type_name}"


def _describe(argument: Argument) -> str:
    if isinstance(argument, Constant):
        return f"(constant {argument.value!r})"
    if isinstance(argument, ParameterRef):
        return f"(pipeline parameter '{argument.name}')"
    if isinstance(argument, OutputRef):
        return f"(output '{argument.output}' of task '{argument.task}')"
    if isinstance(argument, CollectedRef):
        return f"(collected output '{argument.output}' of task '{argument.task}')"
    if isinstance(argument, LoopItemRef):
        return f"(item of loop '{argument.loop}')"
    return "(the final status)"
