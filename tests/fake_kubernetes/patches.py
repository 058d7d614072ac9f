"""PATCH bodies: JSON merge patch (RFC 7386) and JSON patch (RFC 6902).

A strategic merge patch is applied as a JSON merge patch: lists are replaced whole, not merged by key, and
`$patch`/`$setElementOrder` directives are not understood. Patches that only set fields (what a backend
sends to label, annotate or suspend an object) come out the same either way.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError.bad_request(f"json patch: invalid path {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise ApiError(422, f"json patch: path {path!r} does not exist", "Invalid") from None
    return node


def _index(node: list[Any], part: str, path: str, *, adding: bool = False) -> int:
    if adding and part == "-":
        return len(node)
    try:
        index = int(part)
    except ValueError:
        raise ApiError(422, f"json patch: {path!r} is not an array index", "Invalid") from None
    if not 0 <= index <= len(node) - (0 if adding else 1):
        raise ApiError(422, f"json patch: index out of range in {path!r}", "Invalid")
    return index


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    node = _parent(doc, parts, path)
    try:
        return node[_index(node, parts[-1], path)] if isinstance(node, list) else node[parts[-1]]
    except (KeyError, TypeError):
        raise ApiError(422, f"json patch: path {path!r} does not exist", "Invalid") from None


def _remove(doc: Any, path: str) -> Any:
    value = _get(doc, path)
    parts = _pointer(path)
    node = _parent(doc, parts, path)
    if isinstance(node, list):
        del node[_index(node, parts[-1], path)]
    else:
        del node[parts[-1]]
    return value


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    node = _parent(doc, parts, path)
    if isinstance(node, list):
        node.insert(_index(node, parts[-1], path, adding=True), value)
    elif isinstance(node, dict):
        node[parts[-1]] = value
    else:
        raise ApiError(422, f"json patch: cannot add at {path!r}", "Invalid")
    return doc


def json_patch(doc: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise ApiError.bad_request("json patch: the body must be a list of operations")
    doc = copy.deepcopy(doc)
    for operation in operations:
        op, path = operation.get("op"), operation.get("path", "")
        if op == "add":
            doc = _add(doc, path, copy.deepcopy(operation.get("value")))
        elif op == "remove":
            _remove(doc, path)
        elif op == "replace":
            _get(doc, path)  # must exist
            if _pointer(path):
                _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(operation.get("value")))
        elif op == "move":
            value = _remove(doc, operation["from"])
            doc = _add(doc, path, value)
        elif op == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, operation["from"])))
        elif op == "test":
            if _get(doc, path) != operation.get("value"):
                raise ApiError(422, f"json patch: test failed at {path!r}", "Invalid")
        else:
            raise ApiError.bad_request(f"json patch: unknown operation {op!r}")
    return doc
