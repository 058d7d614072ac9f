"""Validation of a pipeline against the IR's rules.

Every problem found is reported at once, each naming the pipeline, the task, the field and
the Python source line where the task was created. The checks run in time linear in the
size of the pipeline, so that very large generated pipelines stay cheap to compile.

Scoping: a node may depend on nodes in its own group or in any enclosing group. Outputs of
tasks inside a loop are visible outside it only through Collected; outputs of tasks inside
a condition branch or an exit handler only within it. Dependencies are lifted to the level
where both ends meet (a task inside a group depends, at that level, through the group) and
each level must be acyclic.
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
_ORDERING = ("<", "<=", ">", ">=")
_NULL = "null"
"""The kind of a `null` constant, in comparisons."""
_NEVER_ORDERED = frozenset({"list", "dict", "bool", _NULL})
_ORDER_GROUP = {"int": "number", "float": "number", "str": "str"}

_DEFAULT_SETTINGS = TaskSettings()

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


@dataclass(frozen=True)
class _Site:
    """Where a problem is: the graph, the node, and the source line that created it."""

    graph: str
    """The component the problem is in; empty for the pipeline's own top level."""
    task: str = ""
    source: str | None = None


@dataclass(frozen=True)
class _Placed:
    """A node of a graph, with the groups and loops around it."""

    node: Node
    scope: Scope
    loops: tuple[Loop, ...]


@dataclass(frozen=True)
class _Consumer:
    """Something that uses values: a task, a group (for its condition or items), an exit task."""

    name: str
    """The name dependencies are recorded under (an exit task's are its handler's)."""
    scope: Scope
    loops: tuple[Loop, ...]
    site: _Site


@dataclass
class _Graph:
    label: str
    parameters: Mapping[str, InputSpec]
    placed: dict[str, _Placed] = field(default_factory=dict)
    exit_tasks: dict[str, Task] = field(default_factory=dict)
    """Exit tasks by name: named like every node, but no other node may depend on them."""
    edges: dict[Scope, dict[str, set[str]]] = field(default_factory=dict)
    """Per level: node -> the nodes at that level it depends on."""


class _Checker:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.problems: list[Problem] = []
        self._checked_components: set[str] = set()
        self._component_stack: list[str] = []

    def report(self, site: _Site, message: str, field: str = "") -> None:
        self.problems.append(
            Problem(
                message=message, pipeline=self.pipeline.name, component=site.graph, task=site.task, field=field, source=site.source or ""
            )
        )

    # --- pipeline and components -----------------------------------------------------------------

    def check(self) -> None:
        pipeline = self.pipeline
        site = _Site("")
        for name, where in ((pipeline.name, "name"), *((key, f"components.{key}") for key in pipeline.components)):
            problem = node_name_problem(name)
            if problem:
                self.report(site, problem, where)
        parameters = self._check_io_specs(pipeline.parameters, pipeline.outputs, site, "parameters")
        self._check_graph(pipeline.graph, parameters, pipeline.outputs, "")
        for key in pipeline.components:
            self._check_component(key)

    def _check_io_specs(
        self, inputs: tuple[InputSpec, ...], outputs: tuple[OutputSpec, ...], site: _Site, inputs_field: str
    ) -> dict[str, InputSpec]:
        by_name: dict[str, InputSpec] = {}
        seen: set[str] = set()
        for kind, specs in ((inputs_field, inputs), ("outputs", outputs)):
            for spec in specs:
                where = f"{kind}.{spec.name}"
                problem = io_name_problem(spec.name)
                if problem:
                    self.report(site, problem, where)
                if spec.name in seen:
                    self.report(site, f"duplicate name '{spec.name}' among inputs and outputs", where)
                seen.add(spec.name)
                if not types.is_known(spec.type):
                    self.report(site, f"unknown type '{spec.type}'", where)
                if isinstance(spec, InputSpec):
                    by_name.setdefault(spec.name, spec)
                    self._check_default(spec, site, where)
        return by_name

    def _check_default(self, spec: InputSpec, site: _Site, where: str) -> None:
        if spec.default is msgspec.UNSET or spec.default is None:
            return
        if types.is_artifact(spec.type):
            self.report(site, "an artifact input can only default to None", f"{where}.default")
            return
        given = types.type_of_constant(spec.default)
        if given and not types.accepts(spec.type, given):
            self.report(site, f"default {spec.default!r} is {_a(given)}, not {_a(spec.type)}", f"{where}.default")

    def _check_component(self, key: str) -> None:
        if key in self._checked_components:
            return
        if key in self._component_stack:
            cycle = " -> ".join([*self._component_stack[self._component_stack.index(key) :], key])
            self.report(_Site(""), f"nested pipelines contain each other: {cycle}", f"components.{key}")
            return
        self._component_stack.append(key)
        component = self.pipeline.components[key]
        label = key
        site = _Site(label)
        inputs = self._check_io_specs(component.inputs, component.outputs, site, "inputs")
        implementation = component.implementation
        if isinstance(implementation, Graph):
            self._check_graph(implementation, inputs, component.outputs, label)
        elif isinstance(implementation, Container):
            for index, part in enumerate((*implementation.command, *implementation.args)):
                self._check_placeholder(part, component, site, f"implementation.command_line[{index}]")
        elif isinstance(implementation, PythonFunction):
            if not implementation.function.isidentifier():
                self.report(site, f"'{implementation.function}' is not a Python function name", "implementation.function")
            for name in implementation.returns:
                if component.output(name) is None:
                    self.report(site, f"returns '{name}', which is not an output", "implementation.returns")
        self._component_stack.pop()
        self._checked_components.add(key)

    def _check_placeholder(self, part: object, component: Component, site: _Site, where: str) -> None:
        named_input = part.input if isinstance(part, _INPUT_PLACEHOLDERS) else None
        if named_input is not None and component.input(named_input) is None:
            self.report(site, f"placeholder names unknown input '{named_input}'", where)
        if isinstance(part, (OutputPathPlaceholder, OutputUriPlaceholder)) and component.output(part.output) is None:
            self.report(site, f"placeholder names unknown output '{part.output}'", where)
        nested: tuple[object, ...] = ()
        if isinstance(part, ConcatPlaceholder):
            nested = part.items
        elif isinstance(part, IfPresentPlaceholder):
            nested = (*part.then, *part.otherwise)
        for inner in nested:
            self._check_placeholder(inner, component, site, where)

    # --- graphs ----------------------------------------------------------------------------------

    def _check_graph(self, graph: Graph, parameters: Mapping[str, InputSpec], outputs: tuple[OutputSpec, ...], label: str) -> None:
        context = _Graph(label=label, parameters=parameters)
        for placed in _walk(graph.nodes, (), ()):
            if self._claim_name(context, placed.node):
                context.placed[placed.node.name] = placed
            if isinstance(placed.node, ExitHandler) and self._claim_name(context, placed.node.exit_task):
                context.exit_tasks[placed.node.exit_task.name] = placed.node.exit_task
        for placed in context.placed.values():
            self._check_node(context, placed)
        for edges in context.edges.values():
            self._check_acyclic(context, edges)
        self._check_graph_outputs(context, graph, outputs)

    def _check_graph_outputs(self, context: _Graph, graph: Graph, outputs: tuple[OutputSpec, ...]) -> None:
        site = _Site(context.label)
        top_level = _Consumer(name="", scope=(), loops=(), site=site)
        for output in outputs:
            binding = graph.outputs.get(output.name)
            if binding is None:
                self.report(site, f"output '{output.name}' is not bound to any task output", "outputs")
                continue
            given = self._output_type(context, top_level, binding, "outputs", record=False)
            if given and not types.accepts(output.type, given):
                self.report(site, f"output '{output.name}' is declared as {_a(output.type)} but is bound to {_a(given)}", "outputs")
        declared = {output.name for output in outputs}
        for name in graph.outputs:
            if name not in declared:
                self.report(site, f"binds output '{name}', which is not declared", "outputs")

    def _claim_name(self, context: _Graph, node: Node) -> bool:
        """Check a node's name; False if an earlier node of the graph already has it."""
        site = _Site(context.label, node.name, node.source)
        earlier = context.placed[node.name].node if node.name in context.placed else context.exit_tasks.get(node.name)
        if earlier is not None:
            first = f" (first defined at {earlier.source})" if earlier.source else ""
            self.report(site, f"duplicate name '{node.name}'{first}", "name")
            return False
        problem = node_name_problem(node.name)
        if problem:
            self.report(site, problem, "name")
        return True

    def _check_node(self, context: _Graph, placed: _Placed) -> None:
        node = placed.node
        consumer = _Consumer(node.name, placed.scope, placed.loops, _Site(context.label, node.name, node.source))
        if isinstance(node, Task):
            self._check_task(context, node, consumer, exit_task=False)
        elif isinstance(node, Importer):
            self._check_argument(context, consumer, node.uri, "str", "uri")
            if not types.is_artifact(node.artifact_type):
                self.report(consumer.site, f"'{node.artifact_type}' is not an artifact type", "artifact_type")
            self._check_after(context, consumer, node.after)
        elif isinstance(node, Condition):
            self._check_condition(context, consumer, node)
        elif isinstance(node, Loop):
            self._check_loop(context, consumer, node)
        elif isinstance(node, ExitHandler):
            # The exit task sits beside the group it guards and runs after it.
            exit_task = node.exit_task
            exit_consumer = _Consumer(node.name, placed.scope, placed.loops, _Site(context.label, exit_task.name, exit_task.source))
            self._check_task(context, exit_task, exit_consumer, exit_task=True)

    def _check_task(self, context: _Graph, task: Task, consumer: _Consumer, *, exit_task: bool) -> None:
        site = consumer.site
        self._check_after(context, consumer, task.after)
        self._check_settings(task.settings, site)
        component = self.pipeline.components.get(task.component)
        if component is None:
            self.report(site, f"unknown component '{task.component}'", "component")
            for input_name, argument in task.arguments.items():
                self._argument_type(context, consumer, argument, f"arguments.{input_name}")
            return
        if isinstance(component.implementation, Graph):
            self._check_nested_pipeline_settings(task, site)
        for input_name, argument in task.arguments.items():
            spec = component.input(input_name)
            where = f"arguments.{input_name}"
            if spec is None:
                known = ", ".join(i.name for i in component.inputs) or "none"
                self.report(site, f"component '{task.component}' has no input '{input_name}' (inputs: {known})", where)
            elif isinstance(argument, TaskFinalStatusRef) and not exit_task:
                self.report(site, "only an ExitHandler's exit task can take the final status", where)
            else:
                self._check_argument(context, consumer, argument, spec.type, where)
        for spec in component.inputs:
            if spec.required and spec.name not in task.arguments:
                self.report(site, f"missing required input '{spec.name}' of component '{task.component}'", f"arguments.{spec.name}")

    def _check_nested_pipeline_settings(self, task: Task, site: _Site) -> None:
        """GRP-5: of a nested-pipeline task's settings only display_name applies; any other makes a backend refuse the run."""
        for name in TaskSettings.__struct_fields__:
            if name != "display_name" and getattr(task.settings, name) != getattr(_DEFAULT_SETTINGS, name):
                self.report(
                    site,
                    f"task '{task.name}' runs the nested pipeline '{task.component}': only display_name applies to it (GRP-5), "
                    "and a backend refuses a run that sets anything else; set it on the tasks inside the nested pipeline",
                    f"settings.{name}",
                )

    def _check_settings(self, settings: TaskSettings, site: _Site) -> None:
        def bad(message: str, where: str) -> None:
            self.report(site, message, f"settings.{where}")

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

    def _check_after(self, context: _Graph, consumer: _Consumer, after: tuple[str, ...]) -> None:
        for upstream in after:
            if upstream not in context.placed:
                self.report(consumer.site, f"runs after unknown task '{upstream}'", "after")
            else:
                self._depend(context, consumer, upstream, "after")

    def _check_condition(self, context: _Graph, consumer: _Consumer, condition: Condition) -> None:
        branches = condition.branches
        if not branches or branches[0].when is None:
            self.report(consumer.site, "a condition needs a first branch with a comparison (If)", "branches")
        for index, branch in enumerate(branches):
            if branch.when is None and index != len(branches) - 1:
                self.report(consumer.site, "only the last branch may have no condition (Else)", f"branches[{index}]")
            if branch.when is not None:
                self._check_comparison(context, consumer, branch.when, f"branches[{index}].when")

    def _check_comparison(self, context: _Graph, consumer: _Consumer, comparison: Comparison, where: str) -> None:
        # The group evaluates its comparisons from the scope it sits in.
        kinds: list[str | None] = []
        for side, argument in (("left", comparison.left), ("right", comparison.right)):
            kind = self._argument_type(context, consumer, argument, f"{where}.{side}")
            if kind and not (types.is_parameter(kind) or kind in (types.ANY_PARAMETER, types.ANY)):
                self.report(consumer.site, f"a condition can only compare parameters, not {_a(kind)}", f"{where}.{side}")
                kind = None
            if isinstance(argument, Constant) and argument.value is None:
                kind = _NULL
            kinds.append(kind)
        if comparison.op in _ORDERING and _never_ordered(kinds[0], kinds[1]):
            # CND-3: an ordering is defined between two numbers or two strings; any other pair
            # is a ConditionError when the condition runs. `==` and `!=` take any pair.
            described = " and ".join(_operand(kind) for kind in kinds if kind is not None)
            self.report(consumer.site, f"'{comparison.op}' orders two numbers or two strings (CND-3), not {described}", where)

    def _check_loop(self, context: _Graph, consumer: _Consumer, loop: Loop) -> None:
        if loop.parallelism < 0:
            self.report(consumer.site, "parallelism cannot be negative", "parallelism")
        items = loop.items
        if isinstance(items, Constant) and not isinstance(items.value, list):
            self.report(consumer.site, f"ParallelFor needs a list, got {type(items.value).__name__} {items.value!r}", "items")
            return
        kind = self._argument_type(context, consumer, items, "items")
        if kind and kind not in ("list", types.ANY, types.ANY_PARAMETER):
            self.report(consumer.site, f"ParallelFor needs a list, got {_a(kind)}", "items")

    # --- arguments and their types ----------------------------------------------------------------

    def _check_argument(self, context: _Graph, consumer: _Consumer, argument: Argument, expected: str, where: str) -> None:
        given = self._argument_type(context, consumer, argument, where)
        if given is not None and not types.accepts(expected, given):
            self.report(consumer.site, f"expects {_a(expected)}, but is given {_a(given)} {_describe(argument)}", where)

    def _argument_type(self, context: _Graph, consumer: _Consumer, argument: Argument, where: str) -> str | None:
        """The type of the value `argument` refers to, reporting broken references. None if unknown."""
        if isinstance(argument, Constant):
            kind = types.type_of_constant(argument.value)
            if kind == "unsupported":
                self.report(consumer.site, f"constant of type {type(argument.value).__name__} is not supported", where)
                return None
            return kind
        if isinstance(argument, ParameterRef):
            spec = context.parameters.get(argument.name)
            if spec is None:
                self.report(consumer.site, f"unknown pipeline parameter '{argument.name}'", where)
                return None
            return spec.type
        if isinstance(argument, OutputRef):
            return self._output_type(context, consumer, argument, where, record=True)
        if isinstance(argument, LoopItemRef):
            loop = next((lp for lp in consumer.loops if lp.name == argument.loop), None)
            if loop is None:
                self.report(consumer.site, f"uses the item of loop '{argument.loop}', which does not enclose it", where)
                return None
            return self._loop_item_type(loop, argument.key, consumer.site, where)
        if isinstance(argument, CollectedRef):
            return self._collected_type(context, consumer, argument, where)
        return types.FINAL_STATUS

    def _output_type(self, context: _Graph, consumer: _Consumer, ref: OutputRef, where: str, *, record: bool) -> str | None:
        producer = context.placed.get(ref.task)
        if producer is None:
            self.report(consumer.site, f"refers to unknown task '{ref.task}'", where)
            return None
        if record:
            self._depend(context, consumer, ref.task, where)
        elif producer.scope:
            self.report(consumer.site, f"task '{ref.task}' is inside '{producer.scope[-1]}'; its outputs are not visible here", where)
        output = self._output_spec(producer.node, ref.output)
        if output is None:
            self.report(consumer.site, f"task '{ref.task}' has no output '{ref.output}'", where)
            return None
        return output.type

    def _output_spec(self, node: Node, output_name: str) -> OutputSpec | None:
        if isinstance(node, Importer):
            return OutputSpec(name="artifact", type=node.artifact_type) if output_name == "artifact" else None
        if isinstance(node, Task):
            component = self.pipeline.components.get(node.component)
            return component.output(output_name) if component else None
        return None

    def _loop_item_type(self, loop: Loop, key: str | None, site: _Site, where: str) -> str:
        if not isinstance(loop.items, Constant) or not isinstance(loop.items.value, list) or not loop.items.value:
            return types.ANY_PARAMETER
        items = loop.items.value
        if key is not None:
            if not all(isinstance(item, dict) and key in item for item in items):
                self.report(site, f"loop '{loop.name}' has items without the key '{key}'", where)
                return types.ANY_PARAMETER
            items = [item[key] for item in items]
        kinds = {types.type_of_constant(item) for item in items}
        only = kinds.pop() if len(kinds) == 1 else None
        return only if only is not None else types.ANY_PARAMETER

    def _collected_type(self, context: _Graph, consumer: _Consumer, ref: CollectedRef, where: str) -> str | None:
        producer = context.placed.get(ref.task)
        if producer is None:
            self.report(consumer.site, f"collects from unknown task '{ref.task}'", where)
            return None
        outside = [loop for loop in producer.loops if loop not in consumer.loops]
        if not outside:
            self.report(
                consumer.site, f"dsl.Collected needs task '{ref.task}' to be inside a ParallelFor that does not enclose the consumer", where
            )
            return None
        loop_placed = context.placed[outside[0].name]
        if not _is_prefix(loop_placed.scope, consumer.scope):
            self.report(consumer.site, f"collects from task '{ref.task}', whose loop is not visible here", where)
            return None
        # The fan-in waits for the loop as a whole: every iteration.
        self._add_edge(context, consumer, outside[0].name, loop_placed.scope, where)
        output = self._output_spec(producer.node, ref.output)
        if output is None:
            self.report(consumer.site, f"task '{ref.task}' has no output '{ref.output}'", where)
            return None
        kind = output.type
        for _ in outside:
            kind = types.list_of(kind)
        return kind

    # --- dependencies and cycles ---------------------------------------------------------------------

    def _depend(self, context: _Graph, consumer: _Consumer, producer_name: str, where: str) -> None:
        producer = context.placed[producer_name]
        if _is_prefix(producer.scope, consumer.scope):
            self._add_edge(context, consumer, producer_name, producer.scope, where)
            return
        group = context.placed[producer.scope[len(_common_prefix(producer.scope, consumer.scope))]].node
        if isinstance(group, Loop):
            hint = f"task '{producer_name}' runs inside ParallelFor '{group.name}'; use dsl.Collected to gather its outputs"
        elif isinstance(group, Condition):
            hint = f"task '{producer_name}' runs only under condition '{group.name}'; depend on it only from within that branch"
        else:
            hint = f"task '{producer_name}' is inside '{group.name}'; depend on it only from within that group"
        self.report(consumer.site, hint, where)

    def _add_edge(self, context: _Graph, consumer: _Consumer, producer_name: str, level: Scope, where: str) -> None:
        """Record that `consumer` depends on `producer_name`, which sits at `level`, lifted to that level."""
        if consumer.name == producer_name:
            self.report(consumer.site, f"'{consumer.name}' depends on itself", where)
            return
        consumer_side = consumer.scope[len(level)] if len(consumer.scope) > len(level) else consumer.name
        if consumer_side != producer_name:
            context.edges.setdefault(level, {}).setdefault(consumer_side, set()).add(producer_name)

    def _check_acyclic(self, context: _Graph, edges: dict[str, set[str]]) -> None:
        """Depth-first search without recursion, so that long chains cannot overflow the stack."""
        state: dict[str, int] = {}  # 1: on the current path, 2: done
        for start in sorted(edges):
            if state.get(start):
                continue
            path = [start]
            pending: list[Iterator[str]] = [iter(sorted(edges.get(start, ())))]
            state[start] = 1
            while pending:
                upstream = next(pending[-1], None)
                if upstream is None:
                    state[path.pop()] = 2
                    pending.pop()
                elif state.get(upstream) == 1:
                    cycle = [*path[path.index(upstream) :], upstream]
                    first = context.placed[cycle[0]].node
                    site = _Site(context.label, first.name, first.source)
                    self.report(site, "dependency cycle: " + " -> ".join(reversed(cycle)), "after/arguments")
                    return
                elif not state.get(upstream):
                    state[upstream] = 1
                    path.append(upstream)
                    pending.append(iter(sorted(edges.get(upstream, ()))))


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


def _never_ordered(left: str | None, right: str | None) -> bool:
    """Whether `<`, `<=`, `>`, `>=` fail on these declared kinds whatever the values (CND-3, CND-4).

    Unknown kinds (a broken reference, a loop item of a list known only at run time) and
    untyped (`Any`) ones, which are converted to the other side's kind, are not held against
    the comparison, except that no conversion makes a list, a mapping, a bool or null orderable.
    """
    if left in _NEVER_ORDERED or right in _NEVER_ORDERED:
        return True
    groups = (_ORDER_GROUP.get(left or ""), _ORDER_GROUP.get(right or ""))
    return None not in groups and groups[0] != groups[1]


def _operand(kind: str) -> str:
    """A comparison operand's kind, for messages."""
    return {_NULL: "null", types.ANY: "an untyped value"}.get(kind) or _a(kind)


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
