"""Evaluating a branch's comparison on typed JSON values (CND-3, CND-4 in docs/explanation/semantics.md)."""

from __future__ import annotations

import json
from typing import Any


class ConditionError(Exception):
    """The two values cannot be compared with this operator."""


def compare(left: Any, op: str, right: Any, *, left_untyped: bool = False, right_untyped: bool = False) -> bool:
    """`left op right`; an untyped operand is first read as the other operand's kind."""
    convertible = True
    if left_untyped and not right_untyped:
        convertible, left = _convert(left, _kind(right))
    elif right_untyped and not left_untyped:
        convertible, right = _convert(right, _kind(left))
    if op in ("==", "!="):
        equal = convertible and _equal(left, right)
        return equal if op == "==" else not equal
    if not convertible or not (_kind(left) == _kind(right) and _kind(left) in ("number", "str")):
        raise ConditionError(f"cannot compare {left!r} {op} {right!r}: ordering needs two numbers or two strings")
    outcome: bool = {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
    return outcome


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    for python_type, kind in ((str, "str"), (list, "list"), (dict, "dict")):
        if isinstance(value, python_type):
            return kind
    return "other"


def _equal(left: Any, right: Any) -> bool:
    """Equal kinds and equal values: `true == 1` is false, `1 == 1.0` is true (CND-3)."""
    kind = _kind(left)
    if kind != _kind(right):
        return False
    if kind == "list":
        return len(left) == len(right) and all(_equal(a, b) for a, b in zip(left, right, strict=True))
    if kind == "dict":
        return left.keys() == right.keys() and all(_equal(left[key], right[key]) for key in left)
    return bool(left == right)


def _convert(value: Any, kind: str) -> tuple[bool, Any]:
    """An untyped value as the other operand's kind (CND-4): (could it be converted, the value)."""
    if _kind(value) == kind:
        return True, value
    if kind == "str":
        return True, json.dumps(value)
    if not isinstance(value, str):
        return False, value
    if kind == "bool":
        lowered = value.strip().lower()
        return (True, lowered == "true") if lowered in ("true", "false") else (False, value)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return False, value
    return (True, parsed) if _kind(parsed) == kind else (False, value)
