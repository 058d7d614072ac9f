"""Label and field selectors, parsed and matched as the apiserver does (k8s.io/apimachinery labels and fields)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ApiError

_REQUIREMENT = re.compile(
    r"""^\s*(?:
        !\s*(?P<absent>[^\s=!<>(),]+)                                  # !key
      | (?P<setkey>[^\s=!<>(),]+)\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\)  # key in (a,b)
      | (?P<key>[^\s=!<>(),]+)\s*(?:(?P<op>==|=|!=|>|<)\s*(?P<value>[^\s=!<>(),]*))?  # key, key=v, key!=v, key>n
    )\s*$""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # exists, !, =, !=, in, notin, >, <
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        try:  # > and < compare integers; a label that is not one does not match
            number, bound = int(value), int(self.values[0])
        except ValueError:
            return False
        return present and (number > bound if self.op == ">" else number < bound)


def _split_top_level(text: str) -> list[str]:
    """Split on the commas that are not inside `in (...)` value lists."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part for part in parts if part.strip()]


def parse_label_selector(text: str) -> Callable[[Mapping[str, str]], bool]:
    """A predicate over an object's labels; an empty selector matches everything. Bad syntax is a 400, as on a real apiserver."""
    requirements = []
    for part in _split_top_level(text or ""):
        match = _REQUIREMENT.match(part)
        if not match:
            raise ApiError.bad_request(f"unable to parse requirement: {part.strip()!r}")
        if match["absent"]:
            requirements.append(Requirement(match["absent"], "!"))
        elif match["setkey"]:
            values = tuple(v.strip() for v in match["values"].split(",") if v.strip())
            requirements.append(Requirement(match["setkey"], match["setop"], values))
        elif match["op"]:
            op = "=" if match["op"] == "==" else match["op"]
            if op in (">", "<") and not match["value"].lstrip("-").isdigit():
                raise ApiError.bad_request(f"unable to parse requirement: for {op!r} operator, the value must be an integer")
            requirements.append(Requirement(match["key"], op, (match["value"],)))
        else:
            requirements.append(Requirement(match["key"], "exists"))
    return lambda labels: all(requirement.matches(labels) for requirement in requirements)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The value of a dotted field path as the field selector compares it (a string; missing is empty)."""
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def parse_field_selector(text: str, supported: frozenset[str], kind: str) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate over a whole object; only the fields the kind supports may be used, as on a real apiserver."""
    terms: list[tuple[str, bool, str]] = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        match = re.match(r"^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not match:
            raise ApiError.bad_request(f"invalid selector: {part.strip()!r}; can't understand {part.strip()!r}")
        field, op, value = match.groups()
        if field not in supported:
            raise ApiError.bad_request(f"field label not supported: {field}{' for ' + kind if kind else ''}")
        terms.append((field, op != "!=", value))
    return lambda obj: all((field_value(obj, field) == value) is equal for field, equal, value in terms)
