"""Output and input values: their types, their text form in files, and their size."""

from __future__ import annotations

import json
from typing import Any

from ..core import types


class BadValue(Exception):
    """A value does not fit its declared type, or cannot be read."""


def check_type(value: Any, declared: str, what: str) -> Any:
    """`value` if it is a `declared` (ints widen to floats); otherwise BadValue."""
    if declared in (types.ANY, types.ANY_PARAMETER) or value is None:
        return value
    given = types.type_of_constant(value)
    if given is None or not types.accepts(declared, given):
        raise BadValue(f"{what} must be {declared}, got {type(value).__name__} {_short(value)}")
    return float(value) if declared == "float" and given == "int" else value


def parse_file_text(text: str, declared: str, what: str) -> Any:
    """A value written to an OutputPath file: str as text (one trailing newline dropped), others as JSON."""
    if declared == "str":
        return text[:-1] if text.endswith("\n") else text
    stripped = text.strip()
    if declared == "bool" and stripped in ("True", "False"):  # what Python's str() writes
        return stripped == "True"
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        if declared == types.ANY:
            return text[:-1] if text.endswith("\n") else text
        raise BadValue(f"{what} must hold a JSON {declared}, got {_short(stripped)}") from None
    return check_type(value, declared, what)


def file_text(value: Any) -> str:
    """How an input value is written for a component that reads it from a file (InputPath)."""
    return value if isinstance(value, str) else json.dumps(value)


def command_line_text(value: Any) -> str:
    """How an input value appears on a container's command line."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def encoded_size(value: Any) -> int:
    return len(json.dumps(value).encode())


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
