"""Step caching: the cache key of a task instance (CACHE-1 in docs/explanation/semantics.md)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import msgspec

from ..core import ir, types
from ..core.task_spec import FinalStatus, InputBinding


def cache_parts(
    component: ir.Component,
    inputs: dict[str, InputBinding],
    settings: ir.TaskSettings,
    value_of: Callable[[InputBinding], Any],
    final_status: FinalStatus | None = None,
) -> dict[str, str]:
    """The digest of each part of the cache key: the component, each input, the environment.

    Kept per task, they say *which* part changed when a task misses the cache.
    """
    described = msgspec.to_builtins(ir.canonical(component))
    described.pop("name", None)
    described.pop("description", None)
    for spec in (*described.get("inputs", ()), *described.get("outputs", ())):
        spec.pop("description", None)
    parts = {"component": _digest(described)}
    for spec in component.inputs:
        if spec.type == types.FINAL_STATUS:
            continue
        binding = inputs.get(spec.name)
        if binding is None:
            part: Any = {"value": spec.default}
        elif binding.artifacts:
            part = {"artifacts": [{"type": ref.type, "content": ref.digest or ref.uri} for ref in binding.artifacts]}
        else:
            value = value_of(binding)
            part = {"value": float(value) if spec.type == "float" and isinstance(value, int) and not isinstance(value, bool) else value}
        parts[f"input:{spec.name}"] = _digest(part)
    parts["environment"] = _digest(
        {
            "env": dict(settings.env),
            "secrets": [{"secret": s.secret, "env": dict(s.env), "mount_path": s.mount_path} for s in settings.secrets],
            "final_status": msgspec.to_builtins(final_status) if final_status else None,
        }
    )
    return parts


def cache_key(parts: dict[str, str]) -> str:
    """SHA-256 of what decides a task's outputs (CACHE-1), from its parts."""
    return _digest(parts)


def _digest(document: Any) -> str:
    canonical_json = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical_json.encode()).hexdigest()
