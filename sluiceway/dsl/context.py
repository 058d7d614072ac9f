"""The build context: where a pipeline function's tasks and groups are recorded.

It lives in a ContextVar, not in module or class globals, so pipelines can be built in
threads or async tasks side by side, and nested pipelines build inside their parent.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

import msgspec

from ..core import ir
from ..core.errors import DefinitionError
from ..core.names import NameAllocator

if TYPE_CHECKING:
    from .tasks import ImporterTask, PipelineTask

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def caller_source() -> str:
    """'file.py:LINE' of the innermost frame outside this package: where the user wrote the call."""
    frame: Any = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return ""
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


class ComponentTable:
    """The components of one pipeline being compiled, nested pipelines' included.

    Each distinct component gets one key, derived from its name; the same component used
    by many tasks is stored once.
    """

    def __init__(self) -> None:
        self.components: dict[str, ir.Component] = {}
        self._new_key = NameAllocator()
        self._keys_by_object: dict[int, tuple[object, str]] = {}
        self._keys_by_content: dict[bytes, str] = {}

    def owners(self) -> list[object]:
        """The DSL objects (components, nested pipelines) whose components are in the table."""
        return [owner for owner, _ in self._keys_by_object.values()]

    def key_for(self, owner: object, build: Any) -> str:
        """The key of `owner`'s component, calling `build()` -> ir.Component the first time."""
        known = self._keys_by_object.get(id(owner))
        if known is not None:
            return known[1]
        # Components are few, so making each canonical here costs little.
        component: ir.Component = ir.canonical(build())
        content = msgspec.json.encode(component)
        key = self._keys_by_content.get(content)
        if key is None:
            key = self._new_key(component.name)
            if key != component.name:
                component = msgspec.structs.replace(component, name=key)
            self.components[key] = component
            self._keys_by_content[content] = key
        # Keep `owner` alive so that its id() is not reused by another object.
        self._keys_by_object[id(owner)] = (owner, key)
        return key


@dataclass
class ConditionDraft:
    name: str
    source: str
    branches: list[tuple[ir.Comparison | None, list[Draft]]] = field(default_factory=list)


@dataclass
class LoopDraft:
    name: str
    source: str
    items: ir.Argument
    parallelism: int
    children: list[Draft] = field(default_factory=list)


@dataclass
class ExitHandlerDraft:
    name: str
    source: str
    exit_task: PipelineTask
    children: list[Draft] = field(default_factory=list)


Draft = Union["PipelineTask", "ImporterTask", ConditionDraft, LoopDraft, ExitHandlerDraft]


class GraphBuilder:
    """Collects the tasks and groups of one pipeline function (or nested pipeline) as it runs."""

    def __init__(self, pipeline_name: str, table: ComponentTable) -> None:
        self.pipeline_name = pipeline_name
        self.table = table
        self.new_name = NameAllocator()
        self.root: list[Draft] = []
        self._containers: list[list[Draft]] = [self.root]
        self._open_groups: list[str] = []

    def add(self, draft: Draft) -> None:
        self._containers[-1].append(draft)

    @property
    def current(self) -> list[Draft]:
        return self._containers[-1]

    @contextmanager
    def inside(self, container: list[Draft], group_name: str) -> Iterator[None]:
        self._containers.append(container)
        self._open_groups.append(group_name)
        try:
            yield
        finally:
            self._containers.pop()
            self._open_groups.pop()

    def to_nodes(self, drafts: list[Draft] | None = None) -> tuple[ir.Node, ...]:
        from .tasks import ImporterTask, PipelineTask

        nodes: list[ir.Node] = []
        for draft in self.root if drafts is None else drafts:
            if isinstance(draft, (PipelineTask, ImporterTask)):
                nodes.append(draft.to_ir())
            elif isinstance(draft, ConditionDraft):
                branches = tuple(ir.Branch(when=when, nodes=self.to_nodes(children)) for when, children in draft.branches)
                nodes.append(ir.Condition(name=draft.name, branches=branches, source=draft.source))
            elif isinstance(draft, LoopDraft):
                nodes.append(
                    ir.Loop(
                        name=draft.name,
                        items=draft.items,
                        parallelism=draft.parallelism,
                        nodes=self.to_nodes(draft.children),
                        source=draft.source,
                    )
                )
            else:
                nodes.append(
                    ir.ExitHandler(
                        name=draft.name,
                        exit_task=draft.exit_task.to_ir(),
                        nodes=self.to_nodes(draft.children),
                        source=draft.source,
                    )
                )
        return tuple(nodes)


_current: ContextVar[GraphBuilder | None] = ContextVar("sluiceway_graph_builder", default=None)


def current_builder(what: str) -> GraphBuilder:
    """The builder of the pipeline being defined; a clear error when there is none."""
    builder = _current.get()
    if builder is None:
        raise DefinitionError(
            f"{caller_source()}: {what} can only be used inside a @dsl.pipeline function "
            "while it is being compiled (compiler.Compiler().compile(...) or `sluiceway compile`)"
        )
    return builder


@contextmanager
def building(builder: GraphBuilder) -> Iterator[GraphBuilder]:
    token = _current.set(builder)
    try:
        yield builder
    finally:
        _current.reset(token)


def active_table() -> ComponentTable | None:
    builder = _current.get()
    return builder.table if builder else None
