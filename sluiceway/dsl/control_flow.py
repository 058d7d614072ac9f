"""Control flow inside a pipeline function: conditions, loops, exit handlers, importers."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from ..core import ir
from ..core.errors import DefinitionError
from ..core.names import sanitize
from .artifacts import Artifact
from .context import ConditionDraft, ExitHandlerDraft, GraphBuilder, LoopDraft, caller_source, current_builder
from .refs import ConditionExpression, LoopItem, to_argument
from .tasks import ImporterTask, PipelineTask


class _Group:
    """A `with` block whose tasks go into one group of the IR."""

    _builder: GraphBuilder
    _children: list[Any]
    _name: str

    def __enter__(self) -> Any:
        self._scope = self._builder.inside(self._children, self._name)
        self._scope.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self._scope.__exit__(kind, error, trace)


def _comparison(condition: Any, source: str, what: str) -> ir.Comparison:
    if not isinstance(condition, ConditionExpression):
        raise DefinitionError(f"{source}: {what} takes a comparison of pipeline values, such as task.output == 'heads'; got {condition!r}")
    return condition.comparison


class If(_Group):
    """Run the block only when `condition` holds at run time."""

    def __init__(self, condition: Any, name: str | None = None) -> None:
        source = caller_source()
        self._builder = current_builder("dsl.If")
        draft_name = self._builder.new_name(sanitize(name) if name else "condition")
        self._draft = ConditionDraft(name=draft_name, source=source)
        self._children = []
        self._draft.branches.append((_comparison(condition, source, "dsl.If"), self._children))
        self._name = draft_name
        self._builder.add(self._draft)


Condition = If
"""KFP's older name for dsl.If."""


class _FollowingBranch(_Group):
    def _attach(self, when: ir.Comparison | None, what: str, source: str) -> None:
        self._builder = current_builder(what)
        previous = self._builder.current[-1] if self._builder.current else None
        if not isinstance(previous, ConditionDraft) or previous.branches[-1][0] is None:
            raise DefinitionError(f"{source}: {what} must directly follow a dsl.If or dsl.Elif block")
        self._children = []
        previous.branches.append((when, self._children))
        self._name = previous.name


class Elif(_FollowingBranch):
    """Run the block when the previous branches did not and `condition` holds."""

    def __init__(self, condition: Any, name: str | None = None) -> None:
        """`name` is accepted for KFP compatibility: all branches share their dsl.If's group."""
        del name
        source = caller_source()
        self._attach(_comparison(condition, source, "dsl.Elif"), "dsl.Elif", source)


class Else(_FollowingBranch):
    """Run the block when none of the previous branches did."""

    def __init__(self, name: str | None = None) -> None:
        del name  # accepted for KFP compatibility, as for dsl.Elif
        self._attach(None, "dsl.Else", caller_source())


class ParallelFor(_Group):
    """Run the block once for each item; `with dsl.ParallelFor(items) as item:`."""

    def __init__(self, items: Any, parallelism: int = 0, name: str | None = None) -> None:
        source = caller_source()
        self._builder = current_builder("dsl.ParallelFor")
        try:
            argument = to_argument(items)
        except DefinitionError as error:
            raise DefinitionError(f"{source}: {error}") from None
        if not isinstance(parallelism, int) or isinstance(parallelism, bool):
            raise DefinitionError(f"{source}: parallelism must be a whole number, not {parallelism!r}")
        self._name = self._builder.new_name(sanitize(name) if name else "for-loop")
        self._children = []
        self._builder.add(LoopDraft(name=self._name, source=source, items=argument, parallelism=parallelism, children=self._children))

    def __enter__(self) -> LoopItem:
        super().__enter__()
        return LoopItem(self._name)


class ExitHandler(_Group):
    """Run `exit_task` after the block's tasks, whether they succeed or fail."""

    def __init__(self, exit_task: PipelineTask, name: str | None = None) -> None:
        source = caller_source()
        self._builder = current_builder("dsl.ExitHandler")
        if not isinstance(exit_task, PipelineTask):
            raise DefinitionError(f"{source}: dsl.ExitHandler takes the exit task, not {exit_task!r}")
        container = self._builder.current
        if exit_task not in container:
            raise DefinitionError(
                f"{source}: the exit task '{exit_task.name}' must be created just before, at the same level as the dsl.ExitHandler"
            )
        # The exit task belongs to the handler, not to the graph beside it.
        container.remove(exit_task)
        self._name = self._builder.new_name(sanitize(name) if name else "exit-handler")
        self._children = []
        self._builder.add(ExitHandlerDraft(name=self._name, source=source, exit_task=exit_task, children=self._children))


def importer(
    artifact_uri: Any,
    artifact_class: type[Artifact] = Artifact,
    reimport: bool = False,
    metadata: dict[str, Any] | None = None,
) -> ImporterTask:
    """Bring an existing artifact (a URI, or a parameter holding one) into the pipeline."""
    source = caller_source()
    builder = current_builder("dsl.importer")
    if not (isinstance(artifact_class, type) and issubclass(artifact_class, Artifact)):
        raise DefinitionError(f"{source}: artifact_class must be an artifact class such as dsl.Dataset, not {artifact_class!r}")
    try:
        uri = to_argument(artifact_uri)
        constant_metadata = to_argument(metadata or {})
    except DefinitionError as error:
        raise DefinitionError(f"{source}: {error}") from None
    if not isinstance(constant_metadata, ir.Constant):
        raise DefinitionError(f"{source}: importer metadata must be a constant dict")
    task = ImporterTask(builder.new_name("importer"), uri, artifact_class.schema_title, constant_metadata.value, reimport, source)
    builder.add(task)
    return task
