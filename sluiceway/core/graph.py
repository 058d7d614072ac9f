"""Who waits for whom in a graph, per level: what the engine schedules by and what Kubernetes backends render.

A level is one list of nodes: a pipeline's top level, a branch, a loop body, an exit
handler's body. Every reference a node makes, however deep inside it, is lifted to the
level's node that contains the producer, as the validator does, so the engine waits at
each level only on that level's nodes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from . import ir


@dataclass(frozen=True)
class Level:
    nodes: tuple[ir.Node, ...]
    waits_for: dict[str, dict[str, str]]
    """Node name -> {name of a node of this level it waits for: the edge's kind}.

    Kinds, strongest first: 'data' (it uses a value), 'collect' (it gathers a loop's
    outputs), 'order' (it only runs after). See DEP-3 in docs/explanation/semantics.md.
    """
    container: dict[str, str]
    """Any node name inside this level (at any depth) -> the name of the level's node that holds it."""
    dependents: dict[str, tuple[str, ...]]
    """Node name -> the nodes of this level that wait for it."""


_LEVELS: dict[int, tuple[tuple[ir.Node, ...], Level]] = {}


def level(nodes: tuple[ir.Node, ...]) -> Level:
    """The level of `nodes`, worked out once per node list."""
    cached = _LEVELS.get(id(nodes))
    if cached is not None and cached[0] is nodes:
        return cached[1]
    container: dict[str, str] = {}
    for top in nodes:
        for inner in _subtree(top):
            container[inner] = top.name
    waits_for: dict[str, dict[str, str]] = {}
    for top in nodes:
        edges: dict[str, str] = {}
        for name, kind in _references(top):
            upstream = container.get(name)
            if upstream is None or upstream == top.name:
                continue
            if _STRENGTH[kind] > _STRENGTH.get(edges.get(upstream, ""), -1):
                edges[upstream] = kind
        waits_for[top.name] = edges
    dependents: dict[str, list[str]] = {}
    for name, edges in waits_for.items():
        for upstream in edges:
            dependents.setdefault(upstream, []).append(name)
    result = Level(nodes=nodes, waits_for=waits_for, container=container, dependents={k: tuple(v) for k, v in dependents.items()})
    _LEVELS[id(nodes)] = (nodes, result)
    return result


def children(node: ir.Node) -> Iterator[tuple[ir.Node, ...]]:
    """The node lists directly inside a group."""
    if isinstance(node, ir.Condition):
        for branch in node.branches:
            yield branch.nodes
    elif isinstance(node, (ir.Loop, ir.ExitHandler)):
        yield node.nodes


def _subtree(node: ir.Node) -> Iterator[str]:
    yield node.name
    if isinstance(node, ir.ExitHandler):
        yield node.exit_task.name
    for nodes in children(node):
        for inner in nodes:
            yield from _subtree(inner)


_STRENGTH = {"order": 0, "collect": 1, "data": 2}


def _references(node: ir.Node) -> Iterator[tuple[str, str]]:
    """(producer name, edge kind) for everything `node` or anything inside it uses or runs after."""
    if isinstance(node, ir.Task):
        yield from ((name, "order") for name in node.after)
        yield from _argument_producers(node.arguments.values())
    elif isinstance(node, ir.Importer):
        yield from ((name, "order") for name in node.after)
        yield from _argument_producers((node.uri,))
    elif isinstance(node, ir.Condition):
        for branch in node.branches:
            if branch.when is not None:
                yield from _argument_producers((branch.when.left, branch.when.right))
    elif isinstance(node, ir.Loop):
        yield from _argument_producers((node.items,))
    elif isinstance(node, ir.ExitHandler):
        yield from _references(node.exit_task)
    for nodes in children(node):
        for inner in nodes:
            yield from _references(inner)


def _argument_producers(arguments: object) -> Iterator[tuple[str, str]]:
    for argument in arguments:  # type: ignore[attr-defined]
        if isinstance(argument, ir.OutputRef):
            yield argument.task, "data"
        elif isinstance(argument, ir.CollectedRef):
            yield argument.task, "collect"


def cycle_in(upstream: dict[str, set[str]]) -> list[str]:
    """A cycle in a graph given as node -> the nodes it waits for, as a path of names; empty if there is none (for
    the backends' linters, which check the engine objects they render)."""
    state: dict[str, int] = {}  # 1: on the current path; 2: done

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = 1
        for before in sorted(upstream.get(node, ())):
            if state.get(before) == 1:
                return [*path[path.index(before) :], before] if before in path else [node, before]
            if before not in state:
                found = visit(before, [*path, before])
                if found:
                    return found
        state[node] = 2
        return []

    for start in sorted(upstream):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return []
