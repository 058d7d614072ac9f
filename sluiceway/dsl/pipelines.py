"""`@dsl.pipeline`: a function whose body, run once at compile time, defines the graph."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

from ..core import ir, types
from ..core.errors import DefinitionError
from ..core.names import node_name_problem, sanitize
from .annotations import describe_parameter, type_name
from .components import BaseComponent, _default, _signature, _where
from .context import ComponentTable, GraphBuilder, building
from .refs import PipelineParameter, Ref, TaskOutput
from .tasks import ImporterTask, PipelineTask


class Pipeline(BaseComponent):
    """A pipeline: compile it, or call it inside another pipeline to nest it as one task."""

    def __init__(
        self, func: Callable[..., Any], name: str | None = None, description: str | None = None, display_name: str | None = None
    ) -> None:
        where = _where(func)
        if name:
            derived, free_text = pipeline_name(name, where)
        else:
            derived, free_text = pipeline_name(func.__name__, where)[0], None
        super().__init__(derived)
        self.pipeline_func = func
        self.description = description if description is not None else (inspect.getdoc(func) or "")
        self.display_name = display_name or free_text
        functools.update_wrapper(self, func)

    def build(self, parameter_defaults: dict[str, Any] | None = None) -> ir.Pipeline:
        """Run the pipeline function once and return its (not yet validated) IR."""
        table = ComponentTable()
        parameters, nodes, outputs, bindings = self._build_graph(table, parameter_defaults or {})
        return ir.Pipeline(
            name=self.name,
            display_name=self.display_name,
            description=self.description,
            parameters=parameters,
            outputs=outputs,
            output_bindings=bindings,
            nodes=nodes,
            components=table.components,
        )

    def nested_pipelines(self) -> list[Pipeline]:
        """The pipelines this one calls as tasks, directly or deeper down."""
        table = ComponentTable()
        self._build_graph(table, {})
        return [owner for owner in table.owners() if isinstance(owner, Pipeline)]

    def describe(self, table: ComponentTable) -> ir.Component:
        parameters, nodes, outputs, bindings = self._build_graph(table, {})
        return ir.Component(
            name=self.name,
            description=self.description,
            inputs=parameters,
            outputs=outputs,
            implementation=ir.Graph(nodes=nodes, outputs=bindings),
        )

    def _build_graph(
        self, table: ComponentTable, parameter_defaults: dict[str, Any]
    ) -> tuple[tuple[ir.InputSpec, ...], tuple[ir.Node, ...], tuple[ir.OutputSpec, ...], dict[str, ir.OutputRef]]:
        func = self.pipeline_func
        where = _where(func)
        signature, hints = _signature(func, where)
        unknown = set(parameter_defaults) - set(signature.parameters)
        if unknown:
            raise DefinitionError(f"{where}: pipeline '{self.name}' has no parameters {sorted(unknown)}")
        parameters: list[ir.InputSpec] = []
        stand_ins: dict[str, PipelineParameter] = {}
        for parameter in signature.parameters.values():
            io = describe_parameter(hints.get(parameter.name), f"{where}: parameter '{parameter.name}'")
            if io.direction != "input" or io.as_path:
                raise DefinitionError(f"{where}: pipeline parameter '{parameter.name}' must be a plain type or Input[...]")
            default = _default(parameter, where)
            if parameter.name in parameter_defaults:
                default = parameter_defaults[parameter.name]
            parameters.append(ir.InputSpec(name=parameter.name, type=io.type, default=default))
            stand_ins[parameter.name] = PipelineParameter(parameter.name, io.type)
        builder = GraphBuilder(self.name, table)
        with building(builder):
            result = func(**stand_ins)
        outputs, bindings = self._outputs(result, _declared_output_types(hints.get("return"), where), where)
        return tuple(parameters), builder.to_nodes(), outputs, bindings

    def _outputs(self, result: Any, declared: dict[str, str], where: str) -> tuple[tuple[ir.OutputSpec, ...], dict[str, ir.OutputRef]]:
        if result is None:
            return (), {}
        fields = getattr(result, "_fields", None)
        named = dict(zip(fields, result, strict=True)) if fields is not None else {"Output": result}
        outputs: list[ir.OutputSpec] = []
        bindings: dict[str, ir.OutputRef] = {}
        for output_name, value in named.items():
            if isinstance(value, PipelineTask):
                value = value.output
            if not isinstance(value, TaskOutput):
                kind = "a pipeline parameter" if isinstance(value, Ref) else repr(value)
                raise DefinitionError(
                    f"{where}: pipeline '{self.name}' returns {kind} as '{output_name}'; a pipeline can only return task outputs"
                )
            producer = value.task
            if output_name in declared:
                # The validator checks that the bound output really has the declared type.
                output_type = declared[output_name]
            elif isinstance(producer, ImporterTask):
                output_type = producer.artifact_type
            else:
                spec = producer.component_spec.output(value.name)
                output_type = spec.type if spec else types.ANY
            outputs.append(ir.OutputSpec(name=output_name, type=output_type))
            argument = value.to_argument()
            assert isinstance(argument, ir.OutputRef)
            bindings[output_name] = argument
        return tuple(outputs), bindings


def pipeline_name(given: str, where: str) -> tuple[str, str | None]:
    """A valid pipeline name for `given`, and `given` itself when it had to change.

    A free-text name ('Two step pipeline', as KFP v1 examples have) becomes
    'two-step-pipeline', and the text is kept as the display name.
    """
    if node_name_problem(given) is None:
        return given, None
    derived = sanitize(given)
    if not derived:
        raise DefinitionError(f"{where}: pipeline name {given!r} has no letters to make a name from; pass name='my-pipeline'")
    return derived, given


def _declared_output_types(annotation: Any, where: str) -> dict[str, str]:
    """Output name -> type, from a pipeline function's return annotation (if any)."""
    if annotation is None or annotation is type(None):
        return {}
    fields = getattr(annotation, "_fields", None)
    if fields is not None:
        field_types = typing.get_type_hints(annotation)
        return {field: type_name(field_types.get(field), f"{where}: output '{field}'") for field in fields}
    return {"Output": type_name(annotation, f"{where}: return value")}


def pipeline(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    display_name: str | None = None,
    pipeline_root: str | None = None,
    pipeline_config: Any = None,
) -> Any:
    """Make a function a pipeline: `@dsl.pipeline` or `@dsl.pipeline(name=..., description=...)`.

    `pipeline_root` and `pipeline_config` are accepted for KFP compatibility; the artifact
    store is chosen by configuration when the pipeline runs.
    """
    del pipeline_root, pipeline_config

    def decorate(function: Callable[..., Any]) -> Pipeline:
        return Pipeline(function, name=name, description=description, display_name=display_name)

    return decorate(func) if func is not None else decorate
