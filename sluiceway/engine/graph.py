"""What the engine needs to know about a graph before it runs: who waits for whom, per level.

A level is one list of nodes: a pipeline's top level, a branch, a loop body, an exit
handler's body. Every reference a node makes, however deep inside it, is lifted to the
level's node that contains the producer, as the validator does, so the engine waits at
each level only on that level's nodes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..core import ir


@dataclass(frozen=True)
class Level:
    nodes: tuple[ir.Node, ...]
    waits_for: dict[str, frozenset[str]]
    """Node name -> the names of the nodes of this level it starts after."""
    container: dict[str, str]
    """Any node name inside this level (at any depth) -> the name of the level's node that holds it."""


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
    waits_for: dict[str, frozenset[str]] = {}
    for top in nodes:
        upstream = {container[name] for name in _references(top) if name in container}
        upstream.discard(top.name)
        waits_for[top.name] = frozenset(upstream)
    result = Level(nodes=nodes, waits_for=waits_for, container=container)
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


def _references(node: ir.Node) -> Iterator[str]:
    """The names of every producer `node` or anything inside it refers to or runs after."""
    if isinstance(node, ir.Task):
        yield from node.after
        yield from _argument_producers(node.arguments.values())
    elif isinstance(node, ir.Importer):
        yield from node.after
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


def _argument_producers(arguments: object) -> Iterator[str]:
    for argument in arguments:  # type: ignore[attr-defined]
        if isinstance(argument, (ir.OutputRef, ir.CollectedRef)):
            yield argument.task
