"""Name rules that every backend can honour, and the DSL's way of deriving such names.

Task, group, component and pipeline names become Argo template and task names, Tekton
task names (DNS-1123 labels) and Kubernetes object names, so they are held to the
strictest of these: lowercase letters, digits and '-', starting with a letter (Argo
`depends` rejects a leading digit), at most 63 characters. Input and output names become
Argo parameter names and Tekton param and result names.
"""

from __future__ import annotations

import re

MAX_NAME_LENGTH = 63
NODE_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
IO_NAME = re.compile(r"^[A-Za-z]([A-Za-z0-9_]*[A-Za-z0-9])?$")


def node_name_problem(name: str) -> str | None:
    """Why `name` cannot name a task, group, component or pipeline; None if it can."""
    if len(name) > MAX_NAME_LENGTH:
        return f"name '{name}' is {len(name)} characters long; Kubernetes backends allow at most {MAX_NAME_LENGTH}"
    if not NODE_NAME.match(name):
        return (
            f"name '{name}' cannot be used by Kubernetes backends: use lowercase letters, digits "
            f"and '-', starting with a letter and ending with a letter or digit (e.g. '{sanitize(name) or 'my-task'}')"
        )
    return None


def io_name_problem(name: str) -> str | None:
    """Why `name` cannot name a parameter, input or output; None if it can."""
    if len(name) > MAX_NAME_LENGTH:
        return f"name '{name}' is {len(name)} characters long; Kubernetes backends allow at most {MAX_NAME_LENGTH}"
    if not IO_NAME.match(name):
        return (
            f"name '{name}' cannot be used by Kubernetes backends: use letters, digits and '_', "
            "starting with a letter and ending with a letter or digit"
        )
    return None


def sanitize(text: str) -> str:
    """Derive a node name from free text: 'Train_Model v2' -> 'train-model-v2'."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    name = re.sub(r"^[0-9-]+", "", name)
    return name[:MAX_NAME_LENGTH].rstrip("-")


class NameAllocator:
    """Hands out unique names: `base`, then `base-2`, `base-3`, ... in constant time per name."""

    def __init__(self) -> None:
        self.taken: set[str] = set()
        self._next_suffix: dict[str, int] = {}

    def __call__(self, base: str) -> str:
        name, n = base, self._next_suffix.get(base, 1)
        if n > 1 or name in self.taken:
            while True:
                n = max(n, 2)
                suffix = f"-{n}"
                name = base[: MAX_NAME_LENGTH - len(suffix)] + suffix
                if name not in self.taken:
                    break
                n += 1
        self._next_suffix[base] = n + 1
        self.taken.add(name)
        return name
