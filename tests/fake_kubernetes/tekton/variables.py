"""Tekton's `$(...)` variables, Go durations and child names, as the simulator needs them.

A value is a string, an array of strings or an object of strings (Tekton's three param types). `substitute` replaces
every variable it can look up and leaves the others as written (Tekton substitutes in stages: pipeline variables in
the PipelineRun controller, task variables in the TaskRun controller). A text that is exactly one variable takes that
variable's value with its type, so that `$(params.arr[*])` or `$(tasks.t.results.r[*])` passes an array on.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any, Union

Value = Union[str, list[str], dict[str, str]]
Lookup = Callable[[str], "Value | None"]

_VARIABLE = re.compile(r"\$\(([^()]+)\)")
_BRACKETED = re.compile(r"""^params\[['"]([^'"]+)['"]\](.*)$""")  # $(params["name"]) is $(params.name)
_INDEXED = re.compile(r"^(.*?)\[(\*|\d+)\]$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
NAME_LIMIT = 63  # kmeta.ChildName keeps names to a DNS-1123 label


class SubstitutionError(Exception):
    """A variable cannot be used where it is written (an array or object inside a longer string)."""


def substitute(text: str, lookup: Lookup) -> Value:
    """`text` with its variables replaced; one whole variable keeps its value's type."""
    whole = _VARIABLE.fullmatch(text)
    if whole:
        value = lookup(whole.group(1).strip())
        return text if value is None else value

    def replace(match: re.Match[str]) -> str:
        value = lookup(match.group(1).strip())
        if value is None:
            return match.group(0)
        if not isinstance(value, str):
            raise SubstitutionError(
                f"{match.group(0)} is an {'array' if isinstance(value, list) else 'object'}: it cannot be part of a string"
            )
        return value

    return _VARIABLE.sub(replace, text)


def substitute_string(text: str, lookup: Lookup) -> str:
    value = substitute(text, lookup)
    if not isinstance(value, str):
        raise SubstitutionError(f"{text} must be a string here")
    return value


def substitute_list(words: list[Any], lookup: Lookup) -> list[str]:
    """Command, args or when values: an element that is a whole array variable becomes that many elements."""
    out: list[str] = []
    for word in words:
        value = substitute(str(word), lookup)
        if isinstance(value, dict):
            raise SubstitutionError(f"{word} is an object: it cannot be a list element")
        out.extend(value if isinstance(value, list) else [value])
    return out


def substitute_any(value: Any, lookup: Lookup) -> Any:
    """Strings anywhere in a JSON-like structure (an embedded taskSpec, a param's value)."""
    if isinstance(value, str):
        return substitute(value, lookup)
    if isinstance(value, list):
        return (
            substitute_list(value, lookup) if all(isinstance(item, str) for item in value) else [substitute_any(v, lookup) for v in value]
        )
    if isinstance(value, dict):
        return {key: substitute_any(item, lookup) for key, item in value.items()}
    return value


def params_lookup(values: dict[str, Value]) -> Lookup:
    """`params.x`, `params["x"]`, `params.x[*]`, `params.x[i]` and `params.x.key` over named values."""

    def lookup(variable: str) -> Value | None:
        bracketed = _BRACKETED.match(variable)
        if bracketed:
            variable = f"params.{bracketed.group(1)}{bracketed.group(2)}"
        if not variable.startswith("params."):
            return None
        return select(values, variable.removeprefix("params."))

    return lookup


def select(values: dict[str, Value], path: str) -> Value | None:
    """`name`, `name[*]`, `name[i]` or `name.key` in `values`; None when there is no such value."""
    indexed = _INDEXED.match(path)
    name, index = (indexed.group(1), indexed.group(2)) if indexed else (path, None)
    if name not in values:
        head, _, key = name.partition(".")
        value = values.get(head)
        return value.get(key) if isinstance(value, dict) and key else None
    value = values[name]
    if index is None or index == "*":
        return value
    if isinstance(value, list) and int(index) < len(value):
        return value[int(index)]
    return None


def chain(*lookups: Lookup) -> Lookup:
    def lookup(variable: str) -> Value | None:
        for each in lookups:
            value = each(variable)
            if value is not None:
                return value
        return None

    return lookup


def variables_in(value: Any) -> list[str]:
    """Every `$(...)` variable named anywhere in a JSON-like structure, in order."""
    if isinstance(value, str):
        return [match.group(1).strip() for match in _VARIABLE.finditer(value)]
    if isinstance(value, list):
        return [name for item in value for name in variables_in(item)]
    if isinstance(value, dict):
        return [name for item in value.values() for name in variables_in(item)]
    return []


def parse_duration(text: str) -> float:
    """Seconds in a Go duration ("1h0m0s", "90s", "1.5m", "0"); ValueError for anything else."""
    text = text.strip()
    if text == "0":
        return 0.0
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"time: invalid duration {text!r}")
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)


def format_duration(seconds: float) -> str:
    """Go's `time.Duration.String()`: "1h0m0s", "1m30s", "2s", "1.5s", "500ms", "0s"."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{_trim(seconds * 1000)}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{_trim(secs)}s"
    if hours or minutes:
        text = f"{int(minutes)}m{text}"
    if hours:
        text = f"{int(hours)}h{text}"
    return text


def _trim(number: float) -> str:
    return f"{round(number, 9):.9f}".rstrip("0").rstrip(".")


def child_name(parent: str, suffix: str) -> str:
    """knative's `kmeta.ChildName`: parent + suffix, made to fit 63 characters with a hash when too long."""
    name = parent + suffix
    if len(name) <= NAME_LIMIT:
        return name
    digest = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()
    return (parent[: max(0, NAME_LIMIT - len(digest))] + digest)[:NAME_LIMIT]
