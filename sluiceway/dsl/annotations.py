"""Type annotations a component function uses, and how each maps to an IR input or output."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from ..core import types
from ..core.errors import DefinitionError
from .artifacts import Artifact

T = TypeVar("T")


class _InputMarker:
    pass


class _OutputMarker:
    pass


class Input(Generic[T]):
    """`Input[Dataset]`: the task receives an artifact object to read from."""

    def __class_getitem__(cls, item: Any) -> Any:
        return Annotated[item, _InputMarker]


class Output(Generic[T]):
    """`Output[Model]`: the task receives an artifact object to write to."""

    def __class_getitem__(cls, item: Any) -> Any:
        return Annotated[item, _OutputMarker]


class InputPath:
    """`InputPath(str)` / `InputPath('Dataset')`: the task receives the path of a file to read."""

    def __init__(self, type: Any = None) -> None:  # noqa: A002 - KFP's keyword
        self.type = type


class OutputPath:
    """`OutputPath(int)` / `OutputPath('Model')`: the task receives the path of a file to write."""

    def __init__(self, type: Any = None) -> None:  # noqa: A002 - KFP's keyword
        self.type = type


@dataclass
class PipelineTaskFinalStatus:
    """What an exit task learns about the tasks its ExitHandler guarded."""

    state: str
    pipeline_job_resource_name: str
    pipeline_task_name: str
    error_code: int | None = None
    error_message: str | None = None


_PARAMETER_NAMES = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    list: "list",
    dict: "dict",
}
# KFP v1 component YAML and InputPath/OutputPath type strings.
_V1_TYPE_NAMES = {
    "string": "str",
    "str": "str",
    "text": "str",
    "integer": "int",
    "int": "int",
    "float": "float",
    "double": "float",
    "boolean": "bool",
    "bool": "bool",
    "jsonarray": "list",
    "list": "list",
    "jsonobject": "dict",
    "dict": "dict",
}


@dataclass(frozen=True)
class Io:
    """How one function parameter maps to the IR."""

    direction: str  # "input" or "output"
    type: str
    as_path: bool = False


def type_name(annotation: Any, where: str) -> str:
    """The IR type of a plain annotation or a type string ('Integer', 'CSV', int, Dataset)."""
    if annotation is None or annotation is typing.Any:
        return types.ANY
    if isinstance(annotation, dict):
        # KFP v1 structured types ({GCSPath: {data_type: CSV}}, ...): their meaning is the
        # component's own business, so they take anything.
        return types.ANY
    if isinstance(annotation, str):
        if annotation in types.ARTIFACT_TYPES:
            return annotation
        # Unknown v1 type names (CSV, TFModel, ...) are files: plain artifacts.
        return _V1_TYPE_NAMES.get(annotation.lower(), "Artifact")
    if isinstance(annotation, type) and issubclass(annotation, Artifact):
        return annotation.schema_title
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return type_name(members[0], where)
    if origin in (list, dict):
        if origin is list:
            args = typing.get_args(annotation)
            if args and isinstance(args[0], type) and issubclass(args[0], Artifact):
                return types.list_of(args[0].schema_title)
        return _PARAMETER_NAMES[origin]
    if annotation in _PARAMETER_NAMES:
        return _PARAMETER_NAMES[annotation]
    raise DefinitionError(
        f"{where}: unsupported type annotation {annotation!r}; use str, int, float, bool, list, dict, Input[...], Output[...], InputPath or OutputPath"
    )


def describe_parameter(annotation: Any, where: str) -> Io:
    """Map a function parameter's annotation to an IR input or output."""
    if isinstance(annotation, InputPath):
        return Io("input", type_name(annotation.type, where), as_path=True)
    if isinstance(annotation, OutputPath):
        return Io("output", type_name(annotation.type, where), as_path=True)
    if annotation is PipelineTaskFinalStatus:
        return Io("input", types.FINAL_STATUS)
    if typing.get_origin(annotation) is Annotated:
        inner, *markers = typing.get_args(annotation)
        if _OutputMarker in markers:
            return Io("output", type_name(inner, where))
        if _InputMarker in markers:
            return Io("input", type_name(inner, where))
    return Io("input", type_name(annotation, where))
