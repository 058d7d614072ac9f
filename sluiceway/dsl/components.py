"""Components: what a pipeline calls to create a task.

A component is described (`ir.Component`) the first time a pipeline uses it, never at
import or decoration time: decorating a function only records it.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
import textwrap
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from ..core import ir, types
from ..core.errors import DefinitionError
from ..core.names import sanitize
from .annotations import Io, describe_parameter, type_name
from .context import ComponentTable, caller_source, current_builder
from .refs import to_argument
from .tasks import PipelineTask

DEFAULT_BASE_IMAGE = "python:3.11-slim"


class BaseComponent:
    """Calling a component inside a pipeline function adds a task and returns it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def describe(self, table: ComponentTable) -> ir.Component:
        """The component's IR. `table` receives the components a nested pipeline uses."""
        raise NotImplementedError

    def keyword_names(self) -> dict[str, str]:
        """Extra keyword names callers may use -> the input they mean (e.g. Python parameter names)."""
        return {}

    def positional_inputs(self, spec: ir.Component) -> list[str]:
        return [spec_input.name for spec_input in spec.inputs if spec_input.type != types.FINAL_STATUS]

    def __call__(self, *args: Any, **kwargs: Any) -> PipelineTask:
        builder = current_builder(f"component '{self.name}'")
        source = caller_source()
        table = builder.table
        key = table.key_for(self, lambda: self.describe(table))
        spec = table.components[key]
        positional = self.positional_inputs(spec)
        if len(args) > len(positional):
            raise DefinitionError(
                f"{source}: component '{self.name}' takes {len(positional)} inputs ({', '.join(positional)}); {len(args)} were given"
            )
        aliases = self.keyword_names()
        arguments: dict[str, ir.Argument] = {}
        try:
            for input_name, value in zip(positional, args, strict=False):
                arguments[input_name] = to_argument(value)
            for keyword, value in kwargs.items():
                input_name = aliases.get(keyword, keyword)
                if input_name in arguments:
                    raise DefinitionError(f"component '{self.name}' got two values for input '{input_name}'")
                arguments[input_name] = to_argument(value)
        except DefinitionError as error:
            raise DefinitionError(f"{source}: {error}") from None
        for spec_input in spec.inputs:
            # An exit task learns the final status without being told to.
            if spec_input.type == types.FINAL_STATUS and spec_input.name not in arguments:
                arguments[spec_input.name] = ir.TaskFinalStatusRef()
        task = PipelineTask(builder.new_name(key), key, spec, arguments, source)
        builder.add(task)
        return task


class _CachedDescription(BaseComponent):
    """A component whose IR depends only on itself, so it is worked out once."""

    @functools.cached_property
    def component_spec(self) -> ir.Component:
        return self._build()

    def _build(self) -> ir.Component:
        raise NotImplementedError

    def describe(self, table: ComponentTable) -> ir.Component:
        return self.component_spec


def _signature(func: Callable[..., Any], where: str) -> tuple[inspect.Signature, dict[str, Any]]:
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except NameError as error:
        raise DefinitionError(f"{where}: cannot resolve a type annotation: {error}") from None
    signature = inspect.signature(func)
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise DefinitionError(f"{where}: *args and **kwargs are not supported in components ('{parameter.name}')")
    return signature, hints


def _default(parameter: inspect.Parameter, where: str) -> Any:
    if parameter.default is inspect.Parameter.empty:
        return msgspec.UNSET
    constant = to_argument(parameter.default)
    if not isinstance(constant, ir.Constant):
        raise DefinitionError(f"{where}: the default of '{parameter.name}' must be a constant")
    return constant.value


def _where(func: Callable[..., Any]) -> str:
    code = getattr(func, "__code__", None)
    if code is None:
        return f"component '{getattr(func, '__name__', func)}'"
    return f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno}"


def function_source(func: Callable[..., Any], where: str) -> str:
    """The function's own source, without its decorators, dedented."""
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        raise DefinitionError(f"{where}: the source of '{func.__name__}' cannot be read; define components in a .py file") from None
    tree = ast.parse(source)
    definition = tree.body[0]
    if not isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise DefinitionError(f"{where}: '{func.__name__}' is not a plain function")
    lines = source.splitlines(keepends=True)
    return "".join(lines[definition.lineno - 1 :])


def _io_name(parameter_name: str, io: Io, strip_path_suffix: bool) -> str:
    if strip_path_suffix and io.as_path:
        for suffix in ("_path", "_file"):
            if parameter_name.endswith(suffix) and len(parameter_name) > len(suffix):
                return parameter_name[: -len(suffix)]
    return parameter_name


class PythonComponent(_CachedDescription):
    """A Python function run by the executor inside the task (`@dsl.component`)."""

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        base_image: str | None = None,
        packages_to_install: list[str] | None = None,
        pip_index_urls: list[str] | None = None,
        strip_path_suffix: bool = False,
    ) -> None:
        super().__init__(func.__name__)
        self.python_func = func
        self.base_image = base_image or DEFAULT_BASE_IMAGE
        self.packages_to_install = tuple(packages_to_install or ())
        self.pip_index_urls = tuple(pip_index_urls or ())
        self._strip_path_suffix = strip_path_suffix
        functools.update_wrapper(self, func)

    def keyword_names(self) -> dict[str, str]:
        implementation = self.component_spec.implementation
        assert isinstance(implementation, ir.PythonFunction)
        return {python_name: io_name for io_name, python_name in implementation.parameter_names.items()}

    def _build(self) -> ir.Component:
        func = self.python_func
        where = _where(func)
        signature, hints = _signature(func, where)
        inputs: list[ir.InputSpec] = []
        outputs: list[ir.OutputSpec] = []
        renamed: dict[str, str] = {}
        for parameter in signature.parameters.values():
            io = describe_parameter(hints.get(parameter.name), f"{where}: parameter '{parameter.name}'")
            name = _io_name(parameter.name, io, self._strip_path_suffix)
            if name != parameter.name:
                renamed[name] = parameter.name
            if io.direction == "input":
                inputs.append(ir.InputSpec(name=name, type=io.type, default=_default(parameter, where), as_path=io.as_path))
            else:
                outputs.append(ir.OutputSpec(name=name, type=io.type, as_path=io.as_path))
        returns, named_tuple = self._return_outputs(hints.get("return"), where)
        outputs.extend(returns)
        return ir.Component(
            name=sanitize(func.__name__) or "component",
            description=inspect.getdoc(func) or "",
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            implementation=ir.PythonFunction(
                function=func.__name__,
                source=function_source(func, where),
                base_image=self.base_image,
                packages_to_install=self.packages_to_install,
                pip_index_urls=self.pip_index_urls,
                returns=tuple(output.name for output in returns),
                returns_named_tuple=named_tuple,
                parameter_names=renamed,
            ),
        )

    @staticmethod
    def _return_outputs(annotation: Any, where: str) -> tuple[list[ir.OutputSpec], bool]:
        if annotation is None or annotation is type(None):
            return [], False
        fields = getattr(annotation, "_fields", None)
        if isinstance(annotation, type) and issubclass(annotation, tuple) and fields is not None:
            field_types = typing.get_type_hints(annotation)
            return [
                ir.OutputSpec(name=field, type=type_name(field_types.get(field), f"{where}: output '{field}'")) for field in fields
            ], True
        return [ir.OutputSpec(name="Output", type=type_name(annotation, f"{where}: return value"))], False


# --- Container components ---------------------------------------------------------------------


@dataclass
class ContainerSpec:
    """What a `@dsl.container_component` function returns."""

    image: str
    command: list[Any] | None = None
    args: list[Any] | None = None


@dataclass
class ConcatPlaceholder:
    """Join several parts of a command line into one argument."""

    items: list[Any]


@dataclass
class IfPresentPlaceholder:
    """`then` when the optional input `input_name` was given, `else_` otherwise."""

    input_name: str
    then: list[Any] | Any
    else_: list[Any] | Any | None = None


_TOKEN = re.compile(r"\x00sluiceway:(\d+)\x00")


class _PlaceholderTokens:
    """Stand-ins for a container component's parameters while its function is called once.

    Used directly they become placeholders; formatted into f-strings they leave a token
    that is split back out into a concatenation.
    """

    def __init__(self) -> None:
        self.placeholders: list[ir.Placeholder] = []

    def token(self, placeholder: ir.Placeholder) -> _Token:
        self.placeholders.append(placeholder)
        return _Token(self, len(self.placeholders) - 1)

    def part(self, value: Any, where: str) -> ir.CommandPart:
        if isinstance(value, _Token):
            return self.placeholders[value.index]
        if isinstance(value, _ArtifactTokens):
            return self.placeholders[value.path.index]
        if isinstance(value, ConcatPlaceholder):
            return ir.ConcatPlaceholder(items=tuple(self.part(item, where) for item in value.items))
        if isinstance(value, IfPresentPlaceholder):
            return ir.IfPresentPlaceholder(
                input=value.input_name, then=self.parts(value.then, where), otherwise=self.parts(value.else_, where)
            )
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise DefinitionError(f"{where}: command-line item {value!r} is not a string or placeholder")
        pieces = _TOKEN.split(value)
        if len(pieces) == 1:
            return value
        items: list[ir.CommandPart] = []
        for index, piece in enumerate(pieces):
            if index % 2:
                items.append(self.placeholders[int(piece)])
            elif piece:
                items.append(piece)
        return items[0] if len(items) == 1 else ir.ConcatPlaceholder(items=tuple(items))

    def parts(self, values: list[Any] | Any | None, where: str) -> tuple[ir.CommandPart, ...]:
        if values is None:
            return ()
        if not isinstance(values, list):
            values = [values]
        return tuple(self.part(value, where) for value in values)


class _Token:
    def __init__(self, tokens: _PlaceholderTokens, index: int) -> None:
        self.tokens = tokens
        self.index = index

    def __str__(self) -> str:
        return f"\x00sluiceway:{self.index}\x00"

    def __format__(self, spec: str) -> str:
        return str(self)  # f"{x}" must give the token whatever the format spec


class _ArtifactTokens:
    """An artifact parameter of a container component: use `.path` or `.uri`."""

    def __init__(self, tokens: _PlaceholderTokens, name: str, output: bool) -> None:
        if output:
            self.path = tokens.token(ir.OutputPathPlaceholder(output=name))
            self.uri = tokens.token(ir.OutputUriPlaceholder(output=name))
        else:
            self.path = tokens.token(ir.InputPathPlaceholder(input=name))
            self.uri = tokens.token(ir.InputUriPlaceholder(input=name))

    def __str__(self) -> str:
        return str(self.path)

    def __format__(self, spec: str) -> str:
        return str(self)


class ContainerComponent(_CachedDescription):
    """A container image and command line (`@dsl.container_component`)."""

    def __init__(self, func: Callable[..., ContainerSpec]) -> None:
        super().__init__(func.__name__)
        self.func = func
        functools.update_wrapper(self, func)

    def _build(self) -> ir.Component:
        func = self.func
        where = _where(func)
        signature, hints = _signature(func, where)
        tokens = _PlaceholderTokens()
        inputs: list[ir.InputSpec] = []
        outputs: list[ir.OutputSpec] = []
        stand_ins: dict[str, Any] = {}
        for parameter in signature.parameters.values():
            io = describe_parameter(hints.get(parameter.name), f"{where}: parameter '{parameter.name}'")
            name = parameter.name
            if io.direction == "input":
                inputs.append(ir.InputSpec(name=name, type=io.type, default=_default(parameter, where), as_path=io.as_path))
            else:
                outputs.append(ir.OutputSpec(name=name, type=io.type, as_path=io.as_path))
            if types.is_artifact(io.type) and not io.as_path:
                stand_ins[name] = _ArtifactTokens(tokens, name, output=io.direction == "output")
            elif io.direction == "output":
                stand_ins[name] = tokens.token(ir.OutputPathPlaceholder(output=name))
            elif io.as_path:
                stand_ins[name] = tokens.token(ir.InputPathPlaceholder(input=name))
            else:
                stand_ins[name] = tokens.token(ir.InputValuePlaceholder(input=name))
        spec = func(**stand_ins)
        if not isinstance(spec, ContainerSpec):
            raise DefinitionError(f"{where}: a @dsl.container_component must return dsl.ContainerSpec(...), not {type(spec).__name__}")
        return ir.Component(
            name=sanitize(func.__name__) or "component",
            description=inspect.getdoc(func) or "",
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            implementation=ir.Container(image=spec.image, command=tokens.parts(spec.command, where), args=tokens.parts(spec.args, where)),
        )


# --- Decorators -------------------------------------------------------------------------------


def component(
    func: Callable[..., Any] | None = None,
    *,
    base_image: str | None = None,
    target_image: str | None = None,
    packages_to_install: list[str] | None = None,
    pip_index_urls: list[str] | None = None,
    install_kfp_package: bool = True,
) -> Any:
    """Make a Python function a component: `@dsl.component` or `@dsl.component(base_image=...)`.

    `target_image` and `install_kfp_package` are accepted for KFP compatibility and ignored:
    the executor ships with Sluiceway.
    """
    del target_image, install_kfp_package

    def decorate(function: Callable[..., Any]) -> PythonComponent:
        return PythonComponent(function, base_image=base_image, packages_to_install=packages_to_install, pip_index_urls=pip_index_urls)

    return decorate(func) if func is not None else decorate


def container_component(func: Callable[..., ContainerSpec]) -> ContainerComponent:
    """Make a function that returns dsl.ContainerSpec a component."""
    return ContainerComponent(func)
