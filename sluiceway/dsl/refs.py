"""Typed references to values that exist only when the pipeline runs.

They are what a pipeline function handles instead of real values: pipeline parameters, task
outputs, loop items and collected fan-ins. Comparing one builds a condition for dsl.If.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core import ir
from ..core.errors import DefinitionError
from .context import caller_source

if TYPE_CHECKING:
    from .tasks import ImporterTask, PipelineTask


class Ref:
    """A value known only at run time. Compare it (==, <, ...) to build a dsl.If condition."""

    def to_argument(self) -> ir.Argument:
        raise NotImplementedError

    def _compare(self, op: ir.ComparisonOperator, other: Any) -> ConditionExpression:
        return ConditionExpression(ir.Comparison(left=self.to_argument(), op=op, right=to_argument(other)))

    def __eq__(self, other: object) -> ConditionExpression:  # type: ignore[override]
        return self._compare("==", other)

    def __ne__(self, other: object) -> ConditionExpression:  # type: ignore[override]
        return self._compare("!=", other)

    def __lt__(self, other: Any) -> ConditionExpression:
        return self._compare("<", other)

    def __le__(self, other: Any) -> ConditionExpression:
        return self._compare("<=", other)

    def __gt__(self, other: Any) -> ConditionExpression:
        return self._compare(">", other)

    def __ge__(self, other: Any) -> ConditionExpression:
        return self._compare(">=", other)

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise DefinitionError(
            f"{caller_source()}: {self!r} has no value while the pipeline is being defined; use dsl.If(...) to branch on it at run time"
        )


class ConditionExpression:
    """The result of comparing a Ref: what dsl.If and dsl.Elif take."""

    def __init__(self, comparison: ir.Comparison) -> None:
        self.comparison = comparison

    def __bool__(self) -> bool:
        raise DefinitionError(
            f"{caller_source()}: a comparison of pipeline values is decided at run time; "
            "pass it to dsl.If(...) instead of using it in Python's if"
        )


class PipelineParameter(Ref):
    def __init__(self, name: str, type_name: str) -> None:
        self.name = name
        self.type = type_name

    def to_argument(self) -> ir.Argument:
        return ir.ParameterRef(name=self.name)

    def __repr__(self) -> str:
        return f"PipelineParameter({self.name!r})"


class TaskOutput(Ref):
    def __init__(self, task: PipelineTask | ImporterTask, name: str) -> None:
        self.task = task
        self.name = name

    def to_argument(self) -> ir.Argument:
        return ir.OutputRef(task=self.task.name, output=self.name)

    def __getitem__(self, key: object) -> None:
        raise DefinitionError(
            f"{caller_source()}: output '{self.name}' of task '{self.task.name}' is one value and cannot be indexed with "
            f"{key!r}; to pass several values, return a NamedTuple and use task.outputs['<name>']"
        )

    def __repr__(self) -> str:
        return f"TaskOutput(task={self.task.name!r}, output={self.name!r})"


class LoopItem(Ref):
    """The current item of a ParallelFor; `item.key` or `item['key']` when items are dicts."""

    def __init__(self, loop_name: str, key: str | None = None) -> None:
        self._loop_name = loop_name
        self._key = key

    def to_argument(self) -> ir.Argument:
        return ir.LoopItemRef(loop=self._loop_name, key=self._key)

    def __getattr__(self, key: str) -> LoopItem:
        if key.startswith("__"):
            raise AttributeError(key)
        return self[key]

    def __getitem__(self, key: str) -> LoopItem:
        if self._key is not None:
            raise DefinitionError(f"loop item key '{self._key}' cannot be indexed further with '{key}'")
        return LoopItem(self._loop_name, key)

    def __repr__(self) -> str:
        return f"LoopItem(loop={self._loop_name!r}, key={self._key!r})"


class Collected(Ref):
    """`dsl.Collected(task.output)`: every iteration's value of a task output inside a ParallelFor."""

    def __init__(self, output: TaskOutput) -> None:
        if not isinstance(output, TaskOutput):
            raise DefinitionError(f"dsl.Collected takes the output of a task inside a ParallelFor, not {output!r}")
        self.output = output

    def to_argument(self) -> ir.Argument:
        return ir.CollectedRef(task=self.output.task.name, output=self.output.name)


class _FinalStatus(Ref):
    def to_argument(self) -> ir.Argument:
        return ir.TaskFinalStatusRef()


FINAL_STATUS = _FinalStatus()

_PLAIN = (str, int, float, bool, type(None))


def to_argument(value: Any) -> ir.Argument:
    """Bind a Python value given in a pipeline function to an IR argument."""
    from .tasks import ImporterTask, PipelineTask

    if isinstance(value, Ref):
        return value.to_argument()
    if isinstance(value, (PipelineTask, ImporterTask)):
        return value.output.to_argument()
    return ir.Constant(value=_constant(value))


def _constant(value: Any) -> Any:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (list, tuple)):
        return [_constant(item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise DefinitionError(f"constant dict keys must be strings: {value!r}")
        return {key: _constant(item) for key, item in value.items()}
    if isinstance(value, Ref):
        raise DefinitionError(f"{value!r} cannot be nested inside a constant list or dict")
    raise DefinitionError(f"{type(value).__name__} value {value!r} cannot be passed to a task; use str, int, float, bool, list or dict")
