"""A fast, deterministic YAML writer for plain data (dicts, lists, str, int, float, bool, None).

PyYAML's representer is pure Python and dominates compile time for large pipelines (about
200 µs per task; the C emitter does not help, as it sits behind the representer). The IR's
on-disk form is plain data, so block-style YAML can be written directly. Loading still goes
through PyYAML, and property tests check that PyYAML reads back exactly what this writes.

Strings are written plain when YAML cannot mistake them for anything else, as literal
blocks when they span lines, and as JSON-style double-quoted scalars (valid YAML) otherwise.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*(?:(?: |:)[A-Za-z0-9_./()-]+)*")
# Words YAML 1.1 (PyYAML) reads as booleans or null.
_RESERVED = frozenset(["y", "n", "yes", "no", "on", "off", "true", "false", "null"])
# What YAML would not keep as-is inside a double-quoted scalar: non-printables and the
# line breaks YAML 1.1 folds (NEL, LS, PS).
_MUST_ESCAPE = re.compile("[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Text a literal block keeps exactly: printable, no line breaks YAML would normalise.
_BLOCK_SAFE = re.compile("[\t\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]*")


def dumps(data: Any) -> str:
    lines: list[str] = []
    if isinstance(data, (dict, list, tuple)) and data:
        _block(data, 0, lines)
    else:
        lines.append(_scalar(data))
    return "\n".join(lines) + "\n"


def _block(value: dict[str, Any] | list[Any] | tuple[Any, ...], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            head = f"{pad}{_scalar(key)}:"
            if isinstance(item, (dict, list, tuple)) and item:
                lines.append(head)
                # Sequences under a key sit at the key's indentation, as PyYAML writes them.
                _block(item, indent if not isinstance(item, dict) else indent + 2, lines)
            elif isinstance(item, str) and "\n" in item and _fits_block(item):
                _literal(head, item, indent + 2, lines)
            else:
                lines.append(f"{head} {_scalar(item)}")
        return
    for item in value:
        if isinstance(item, (dict, list, tuple)) and item:
            start = len(lines)
            _block(item, indent + 2, lines)
            lines[start] = f"{pad}- {lines[start][indent + 2 :]}"
        elif isinstance(item, str) and "\n" in item and _fits_block(item):
            _literal(f"{pad}-", item, indent + 2, lines)
        else:
            lines.append(f"{pad}- {_scalar(item)}")


def _fits_block(text: str) -> bool:
    """Whether a literal block scalar reproduces `text` exactly."""
    body = text[:-1] if text.endswith("\n") else text
    return (
        not body.endswith("\n")
        and not text.startswith((" ", "\n", "\t"))
        and "\r" not in text
        and _BLOCK_SAFE.fullmatch(text) is not None
        and not any(line.endswith((" ", "\t")) for line in body.split("\n"))
    )


def _literal(head: str, text: str, indent: int, lines: list[str]) -> None:
    chomp = "" if text.endswith("\n") else "-"
    lines.append(f"{head} |{chomp}")
    pad = " " * indent
    body = text[:-1] if text.endswith("\n") else text
    lines.extend(f"{pad}{line}" if line else "" for line in body.split("\n"))


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and value.lower() not in _RESERVED:
            return value
        # JSON's double-quoted form is YAML too; escape what YAML would not keep, keep other text readable.
        return _MUST_ESCAPE.sub(lambda match: f"\\u{ord(match.group()):04x}", json.dumps(value, ensure_ascii=False))
    if isinstance(value, (dict, list, tuple)):
        return "{}" if isinstance(value, dict) else "[]"
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    # PyYAML (YAML 1.1) reads a float only with a dot: 1e+20 must be written 1.0e+20.
    if "." not in text:
        mantissa, _, exponent = text.partition("e")
        text = f"{mantissa}.0" + (f"e{exponent}" if exponent else "")
    return text
