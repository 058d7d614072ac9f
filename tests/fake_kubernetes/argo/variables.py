"""`{{...}}` substitution as Argo does it (A: docs/variables.md), over plain JSON values.

A scope maps a variable's name (`inputs.parameters.x`, `tasks.a.outputs.parameters.p`, `item`, ...) to its string
value, or to ABSENT: the output of a Skipped or Omitted producer that declares no `valueFrom.default`. Per
A: docs/variables.md "Outputs of Skipped and Omitted Nodes", an argument that is exactly such a reference is dropped
(so the consumer's input default applies), and any other use is an error. `{{= expr}}` expressions are not simulated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_REFERENCE = re.compile(r"{{\s*([^{}]*?)\s*}}")


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()
Scope = Mapping[str, "str | _Absent"]


class Unresolved(ValueError):
    """A reference with no value in scope (or to an absent output)."""


def substitute(value: Any, scope: Scope, strict: bool = True) -> Any:
    """`value` with every `{{name}}` in its strings replaced; with `strict`, an unknown name raises Unresolved,
    otherwise it is left for a later stage (as `{{item}}` waits for the expansion)."""
    if isinstance(value, str):
        return _REFERENCE.sub(lambda match: _lookup(match, scope, strict), value)
    if isinstance(value, list):
        return [substitute(item, scope, strict) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, scope, strict) for key, item in value.items()}
    return value


def _lookup(match: re.Match[str], scope: Scope, strict: bool) -> str:
    name = match.group(1)
    found = scope.get(name)
    if isinstance(found, str):
        return found
    if found is ABSENT:
        raise Unresolved(f"failed to resolve {match.group(0)}: the output of a Skipped or Omitted task, with no valueFrom.default")
    if name.startswith("="):
        raise Unresolved(f"failed to resolve {match.group(0)}: expression templates are not simulated")
    if strict:
        raise Unresolved(f"failed to resolve {match.group(0)}")
    return match.group(0)


def arguments(parameters: list[dict[str, Any]], scope: Scope) -> list[dict[str, Any]]:
    """A task's `arguments.parameters` resolved, dropping those that are exactly a reference to an absent output."""
    resolved = []
    for parameter in parameters:
        value = parameter.get("value")
        match = _REFERENCE.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is not None and scope.get(match.group(1)) is ABSENT:
            continue
        resolved.append(substitute(parameter, scope))
    return resolved


def item_scope(item: Any) -> dict[str, str]:
    """`{{item}}` and, for an object, `{{item.key}}` (A: docs/walk-through/loops.md)."""
    scope = {"item": text(item)}
    if isinstance(item, dict):
        scope.update({f"item.{key}": text(value) for key, value in item.items()})
    return scope


def item_label(item: Any) -> str:
    """How an item appears in its node's name, `task(0:label)`: an object as `key:value` pairs, sorted by key."""
    if isinstance(item, dict):
        return ",".join(f"{key}:{text(item[key])}" for key in sorted(item))
    return text(item)


def text(value: Any) -> str:
    """A JSON value as Argo renders it into a string: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
